//! The subset of CEL (Common Expression Language) that routing rules may use, evaluated over
//! `event` (the CloudEvent as a JSON map), as daprd does with cel-go (`pkg/expr/expr.go`).
//!
//! Supported: literals (`"str"`, `'str'`, `r"raw"`, `12`, `12u`, `1.5`, `true`, `false`,
//! `null`, `[list]`), field selection (`event.data.task.priority`), indexing (`event["type"]`,
//! `list[0]`), `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `!`, `&&`, `||`, `? :`, parentheses,
//! `has(event.data.x)`, `size(x)` / `x.size()`, and `startsWith`, `endsWith`, `contains` on
//! strings. Anything else (arithmetic, map literals, other functions, identifiers other than
//! `event`) is rejected when the rule is compiled, i.e. when the subscription is loaded.
//!
//! Semantics follow CEL:
//! * JSON numbers are `double` (Go decodes them as float64); `==`/`!=` compare numbers across
//!   int/uint/double by value and values of different kinds as unequal; ordering needs both
//!   sides of the same type (`event.data.n > 3` is a "no such overload" error, write `3.0`).
//! * Selecting a field that is absent (`event.data.missing`) is an evaluation error ("no such
//!   key"), not `false`. `&&` and `||` absorb errors the way CEL does (`false && error` is
//!   `false`, `true || error` is `true`), so `has(event.data.x) && event.data.x == 1` is the
//!   guarded form. A rule whose evaluation ends in an error is handled as daprd handles it: the
//!   message goes to the dead-letter topic if there is one, and is otherwise dropped (logged).

use std::fmt;

use serde_json::Value;

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    ast: Node,
}

/// Why an expression could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError(pub String);

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an evaluation failed (CEL runtime error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compiles `source` (surrounding whitespace ignored).
pub fn compile(source: &str) -> Result<Expr, CompileError> {
    let tokens = lex(source)?;
    let mut parser = Parser { tokens, pos: 0 };
    let ast = parser.expr()?;
    if let Some(token) = parser.peek() {
        return Err(CompileError(format!("unexpected {}", token.describe())));
    }
    match check(&ast)? {
        Type::Bool | Type::Dyn => {}
        other => {
            return Err(CompileError(format!(
                "expression is a {other}, not a boolean"
            )));
        }
    }
    Ok(Expr {
        source: source.trim().to_owned(),
        ast,
    })
}

impl Expr {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression with `event` bound to `event`; a non-boolean result is an error
    /// (daprd: "the result of match expression … was not a boolean").
    pub fn matches(&self, event: &Value) -> Result<bool, EvalError> {
        match eval(&self.ast, event)? {
            Val::Bool(b) => Ok(b),
            other => Err(EvalError(format!(
                "the result of match expression {} was not a boolean but {}",
                self.source,
                other.type_name()
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    Op(&'static str),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(name) => format!("identifier `{name}`"),
            Token::Int(n) => format!("number `{n}`"),
            Token::Uint(n) => format!("number `{n}u`"),
            Token::Double(n) => format!("number `{n}`"),
            Token::Str(s) => format!("string {s:?}"),
            Token::Op(op) => format!("`{op}`"),
        }
    }
}

const OPERATORS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", ",", "?", ":", "-",
];
const UNSUPPORTED_OPERATORS: &[&str] = &["+", "*", "/", "%", "{", "}", "="];

fn lex(source: &str) -> Result<Vec<Token>, CompileError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // Raw string prefix: r"..." / R'...'.
            if (word == "r" || word == "R") && i < chars.len() && matches!(chars[i], '"' | '\'') {
                let (text, next) = lex_string(&chars, i, true)?;
                tokens.push(Token::Str(text));
                i = next;
                continue;
            }
            if matches!(word.as_str(), "b" | "B")
                && i < chars.len()
                && matches!(chars[i], '"' | '\'')
            {
                return Err(CompileError("bytes literals are not supported".into()));
            }
            tokens.push(Token::Ident(word));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let (token, next) = lex_number(&chars, i)?;
            tokens.push(token);
            i = next;
            continue;
        }
        if c == '"' || c == '\'' {
            let (text, next) = lex_string(&chars, i, false)?;
            tokens.push(Token::Str(text));
            i = next;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(op));
            i += op.len();
            continue;
        }
        if let Some(op) = UNSUPPORTED_OPERATORS
            .iter()
            .find(|op| rest.starts_with(**op))
        {
            return Err(CompileError(format!(
                "operator `{op}` is not supported in routing rules"
            )));
        }
        return Err(CompileError(format!("unexpected character {c:?}")));
    }
    Ok(tokens)
}

fn lex_number(chars: &[char], start: usize) -> Result<(Token, usize), CompileError> {
    let mut i = start;
    if chars[i] == '0' && matches!(chars.get(i + 1), Some('x' | 'X')) {
        i += 2;
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_hexdigit() {
            i += 1;
        }
        let digits: String = chars[digits_start..i].iter().collect();
        let value = u64::from_str_radix(&digits, 16)
            .map_err(|_| CompileError(format!("invalid hex literal 0x{digits}")))?;
        if matches!(chars.get(i), Some('u' | 'U')) {
            return Ok((Token::Uint(value), i + 1));
        }
        let value = i64::try_from(value)
            .map_err(|_| CompileError(format!("int literal 0x{digits} overflows")))?;
        return Ok((Token::Int(value), i));
    }
    let mut is_double = false;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i < chars.len() && chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        is_double = true;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < chars.len() && matches!(chars[i], 'e' | 'E') {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(char::is_ascii_digit) {
            is_double = true;
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = chars[start..i].iter().collect();
    if is_double {
        let value = text
            .parse::<f64>()
            .map_err(|_| CompileError(format!("invalid number {text}")))?;
        return Ok((Token::Double(value), i));
    }
    if matches!(chars.get(i), Some('u' | 'U')) {
        let value = text
            .parse::<u64>()
            .map_err(|_| CompileError(format!("uint literal {text}u overflows")))?;
        return Ok((Token::Uint(value), i + 1));
    }
    // A negative i64::MIN literal is written `-9223372036854775808`: parse through i128.
    let value = text
        .parse::<i128>()
        .map_err(|_| CompileError(format!("invalid number {text}")))?;
    if value > i128::from(i64::MAX) + 1 {
        return Err(CompileError(format!("int literal {text} overflows")));
    }
    Ok((Token::Int(i64::try_from(value).unwrap_or(i64::MIN)), i))
}

fn lex_string(chars: &[char], start: usize, raw: bool) -> Result<(String, usize), CompileError> {
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(CompileError("unterminated string literal".into()));
        };
        if triple {
            if c == quote && chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                return Ok((out, i + 3));
            }
        } else if c == quote {
            return Ok((out, i + 1));
        } else if c == '\n' {
            return Err(CompileError("newline in string literal".into()));
        }
        if c == '\\' && !raw {
            let Some(&escaped) = chars.get(i + 1) else {
                return Err(CompileError("unterminated string literal".into()));
            };
            i += 2;
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '"' | '\'' | '`' | '?' => out.push(escaped),
                'u' | 'U' | 'x' | 'X' => {
                    let len = match escaped {
                        'u' => 4,
                        'U' => 8,
                        _ => 2,
                    };
                    let hex: String = chars.get(i..i + len).unwrap_or_default().iter().collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == len)
                        .and_then(char::from_u32)
                        .ok_or_else(|| CompileError(format!("invalid escape \\{escaped}{hex}")))?;
                    out.push(code);
                    i += len;
                }
                other => {
                    return Err(CompileError(format!("invalid escape \\{other}")));
                }
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Val),
    List(Vec<Node>),
    Event,
    Select(Box<Node>, String),
    Index(Box<Node>, Box<Node>),
    Has(Box<Node>, String),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Compare(CmpOp, Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Size,
    StartsWith,
    EndsWith,
    Contains,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), CompileError> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(CompileError(match self.peek() {
                Some(token) => format!("expected `{op}`, found {}", token.describe()),
                None => format!("expected `{op}` at the end of the expression"),
            }))
        }
    }

    fn expr(&mut self) -> Result<Node, CompileError> {
        let cond = self.or()?;
        if self.eat("?") {
            let then = self.or()?;
            self.expect(":")?;
            let otherwise = self.expr()?;
            return Ok(Node::Cond(
                Box::new(cond),
                Box::new(then),
                Box::new(otherwise),
            ));
        }
        Ok(cond)
    }

    fn or(&mut self) -> Result<Node, CompileError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, CompileError> {
        let mut left = self.relation()?;
        while self.eat("&&") {
            let right = self.relation()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn relation(&mut self) -> Result<Node, CompileError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Token::Op("==")) => Some(CmpOp::Eq),
                Some(Token::Op("!=")) => Some(CmpOp::Ne),
                Some(Token::Op("<")) => Some(CmpOp::Lt),
                Some(Token::Op("<=")) => Some(CmpOp::Le),
                Some(Token::Op(">")) => Some(CmpOp::Gt),
                Some(Token::Op(">=")) => Some(CmpOp::Ge),
                Some(Token::Ident(word)) if word == "in" => None,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = match op {
                Some(op) => Node::Compare(op, Box::new(left), Box::new(right)),
                None => Node::In(Box::new(left), Box::new(right)),
            };
        }
    }

    fn unary(&mut self) -> Result<Node, CompileError> {
        if self.eat("!") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return match self.next() {
                Some(Token::Int(n)) => Ok(Node::Literal(Val::Int(n.wrapping_neg()))),
                Some(Token::Double(n)) => Ok(Node::Literal(Val::Double(-n))),
                _ => Err(CompileError(
                    "arithmetic (unary `-`) is only supported on number literals".into(),
                )),
            };
        }
        self.member()
    }

    fn member(&mut self) -> Result<Node, CompileError> {
        let mut node = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(Token::Ident(name)) = self.next() else {
                    return Err(CompileError("expected a field name after `.`".into()));
                };
                if self.eat("(") {
                    let args = self.args()?;
                    let func = match name.as_str() {
                        "startsWith" => Func::StartsWith,
                        "endsWith" => Func::EndsWith,
                        "contains" => Func::Contains,
                        "size" => Func::Size,
                        other => {
                            return Err(CompileError(format!(
                                "method `{other}` is not supported in routing rules"
                            )));
                        }
                    };
                    let expected = if func == Func::Size { 0 } else { 1 };
                    if args.len() != expected {
                        return Err(CompileError(format!(
                            "`{name}` takes {expected} argument(s)"
                        )));
                    }
                    let mut all = vec![node];
                    all.extend(args);
                    node = Node::Call(func, all);
                } else {
                    node = Node::Select(Box::new(node), name);
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                node = Node::Index(Box::new(node), Box::new(index));
            } else {
                return Ok(node);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Node>, CompileError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Node, CompileError> {
        match self.next() {
            Some(Token::Int(n)) => Ok(Node::Literal(Val::Int(n))),
            Some(Token::Uint(n)) => Ok(Node::Literal(Val::Uint(n))),
            Some(Token::Double(n)) => Ok(Node::Literal(Val::Double(n))),
            Some(Token::Str(s)) => Ok(Node::Literal(Val::Str(s))),
            Some(Token::Op("(")) => {
                let inner = self.expr()?;
                self.expect(")")?;
                Ok(inner)
            }
            Some(Token::Op("[")) => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("]") {
                            break;
                        }
                    }
                }
                Ok(Node::List(items))
            }
            Some(Token::Ident(name)) => match name.as_str() {
                "true" => Ok(Node::Literal(Val::Bool(true))),
                "false" => Ok(Node::Literal(Val::Bool(false))),
                "null" => Ok(Node::Literal(Val::Null)),
                "event" => Ok(Node::Event),
                "has" if self.eat("(") => {
                    let args = self.args()?;
                    match <[Node; 1]>::try_from(args) {
                        Ok([Node::Select(operand, field)]) => Ok(Node::Has(operand, field)),
                        _ => Err(CompileError(
                            "has() takes one field selection, e.g. has(event.data.x)".into(),
                        )),
                    }
                }
                "size" if self.eat("(") => {
                    let args = self.args()?;
                    if args.len() != 1 {
                        return Err(CompileError("size() takes 1 argument".into()));
                    }
                    Ok(Node::Call(Func::Size, args))
                }
                _ if self.eat("(") => Err(CompileError(format!(
                    "function `{name}` is not supported in routing rules"
                ))),
                _ => Err(CompileError(format!(
                    "undeclared reference to `{name}` (only `event` is defined)"
                ))),
            },
            Some(token) => Err(CompileError(format!("unexpected {}", token.describe()))),
            None => Err(CompileError("unexpected end of expression".into())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Static checks (what cel-go's type checker rejects at compile time, for our subset)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    Str,
    List,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Dyn => "dyn",
            Type::Null => "null",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Uint => "uint",
            Type::Double => "double",
            Type::Str => "string",
            Type::List => "list",
        })
    }
}

fn check(node: &Node) -> Result<Type, CompileError> {
    let mismatch = |what: &str, t: Type| {
        Err(CompileError(format!(
            "found no matching overload for {what} applied to {t}"
        )))
    };
    Ok(match node {
        Node::Literal(v) => match v {
            Val::Null => Type::Null,
            Val::Bool(_) => Type::Bool,
            Val::Int(_) => Type::Int,
            Val::Uint(_) => Type::Uint,
            Val::Double(_) => Type::Double,
            Val::Str(_) => Type::Str,
            Val::List(_) | Val::Map(_) => Type::Dyn,
        },
        Node::List(items) => {
            for item in items {
                check(item)?;
            }
            Type::List
        }
        Node::Event => Type::Dyn,
        Node::Select(operand, field) | Node::Has(operand, field) => {
            let t = check(operand)?;
            if t != Type::Dyn {
                return mismatch(&format!("field selection `.{field}`"), t);
            }
            if matches!(node, Node::Has(..)) {
                Type::Bool
            } else {
                Type::Dyn
            }
        }
        Node::Index(operand, index) => {
            let t = check(operand)?;
            check(index)?;
            if !matches!(t, Type::Dyn | Type::List) {
                return mismatch("indexing", t);
            }
            Type::Dyn
        }
        Node::Not(operand) => {
            let t = check(operand)?;
            if !matches!(t, Type::Bool | Type::Dyn) {
                return mismatch("`!`", t);
            }
            Type::Bool
        }
        Node::And(l, r) | Node::Or(l, r) => {
            for side in [l, r] {
                let t = check(side)?;
                if !matches!(t, Type::Bool | Type::Dyn) {
                    return mismatch("`&&`/`||`", t);
                }
            }
            Type::Bool
        }
        Node::Cond(c, a, b) => {
            let t = check(c)?;
            if !matches!(t, Type::Bool | Type::Dyn) {
                return mismatch("`? :`", t);
            }
            let (a, b) = (check(a)?, check(b)?);
            if a == b { a } else { Type::Dyn }
        }
        Node::Compare(op, l, r) => {
            let (lt, rt) = (check(l)?, check(r)?);
            if !matches!(op, CmpOp::Eq | CmpOp::Ne)
                && lt != Type::Dyn
                && rt != Type::Dyn
                && (lt != rt || matches!(lt, Type::Null | Type::List))
            {
                return Err(CompileError(format!(
                    "found no matching overload for an ordering applied to ({lt}, {rt})"
                )));
            }
            Type::Bool
        }
        Node::In(l, r) => {
            check(l)?;
            let t = check(r)?;
            if !matches!(t, Type::Dyn | Type::List) {
                return mismatch("`in`", t);
            }
            Type::Bool
        }
        Node::Call(func, args) => {
            let types = args.iter().map(check).collect::<Result<Vec<_>, _>>()?;
            match func {
                Func::Size => {
                    if !matches!(types[0], Type::Dyn | Type::Str | Type::List) {
                        return mismatch("size()", types[0]);
                    }
                    Type::Int
                }
                _ => {
                    for t in types {
                        if !matches!(t, Type::Dyn | Type::Str) {
                            return mismatch("a string function", t);
                        }
                    }
                    Type::Bool
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    List(Vec<Val>),
    Map(serde_json::Map<String, Value>),
}

impl Val {
    fn from_json(value: &Value) -> Val {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            // Go's encoding/json decodes every number into float64.
            Value::Number(n) => Val::Double(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(items) => Val::List(items.iter().map(Val::from_json).collect()),
            Value::Object(map) => Val::Map(map.clone()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null_type",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Uint(_) => "uint",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::List(_) => "list",
            Val::Map(_) => "map",
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(n) => Some(*n as f64),
            Val::Uint(n) => Some(*n as f64),
            Val::Double(n) => Some(*n),
            _ => None,
        }
    }
}

/// CEL heterogeneous equality: numbers compare by value across int/uint/double, other kinds
/// are unequal when they differ.
fn equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Uint(x), Val::Uint(y)) => x == y,
        (Val::Int(x), Val::Uint(y)) | (Val::Uint(y), Val::Int(x)) => {
            u64::try_from(*x).is_ok_and(|x| x == *y)
        }
        (Val::Double(_), _) | (_, Val::Double(_)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equals(x, y))
        }
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.get(k)
                        .is_some_and(|w| equals(&Val::from_json(v), &Val::from_json(w)))
                })
        }
        _ => a == b,
    }
}

fn no_overload(op: &str, a: &Val, b: &Val) -> EvalError {
    EvalError(format!(
        "no such overload: {op}({}, {})",
        a.type_name(),
        b.type_name()
    ))
}

fn order(op: CmpOp, a: &Val, b: &Val) -> Result<bool, EvalError> {
    let ordering = match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.partial_cmp(y),
        (Val::Uint(x), Val::Uint(y)) => x.partial_cmp(y),
        (Val::Double(x), Val::Double(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => x.partial_cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.partial_cmp(y),
        _ => return Err(no_overload("ordering", a, b)),
    };
    let Some(ordering) = ordering else {
        return Ok(false); // NaN
    };
    Ok(match op {
        CmpOp::Lt => ordering.is_lt(),
        CmpOp::Le => ordering.is_le(),
        CmpOp::Gt => ordering.is_gt(),
        CmpOp::Ge => ordering.is_ge(),
        CmpOp::Eq | CmpOp::Ne => unreachable!("equality is not an ordering"),
    })
}

fn select(value: Val, field: &str) -> Result<Val, EvalError> {
    match value {
        Val::Map(map) => map
            .get(field)
            .map(Val::from_json)
            .ok_or_else(|| EvalError(format!("no such key: {field}"))),
        other => Err(EvalError(format!(
            "type '{}' does not support field selection",
            other.type_name()
        ))),
    }
}

fn as_bool(value: Result<Val, EvalError>) -> Result<bool, EvalError> {
    match value? {
        Val::Bool(b) => Ok(b),
        other => Err(EvalError(format!(
            "no such overload: logical operator applied to {}",
            other.type_name()
        ))),
    }
}

fn eval(node: &Node, event: &Value) -> Result<Val, EvalError> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::List(items) => Ok(Val::List(
            items
                .iter()
                .map(|item| eval(item, event))
                .collect::<Result<_, _>>()?,
        )),
        Node::Event => Ok(Val::from_json(event)),
        Node::Select(operand, field) => select(eval(operand, event)?, field),
        Node::Has(operand, field) => match eval(operand, event)? {
            Val::Map(map) => Ok(Val::Bool(map.contains_key(field))),
            other => Err(EvalError(format!(
                "invalid type for field selection: {}",
                other.type_name()
            ))),
        },
        Node::Index(operand, index) => {
            let (value, index) = (eval(operand, event)?, eval(index, event)?);
            match (&value, &index) {
                (Val::Map(_), Val::Str(key)) => select(value, key),
                (Val::List(items), _) => {
                    let position = match index {
                        Val::Int(i) => usize::try_from(i).ok(),
                        Val::Uint(i) => usize::try_from(i).ok(),
                        Val::Double(d) if d.fract() == 0.0 && d >= 0.0 => Some(d as usize),
                        _ => return Err(no_overload("_[_]", &value, &index)),
                    };
                    position
                        .and_then(|p| items.get(p).cloned())
                        .ok_or_else(|| EvalError(format!("index out of range: {index:?}")))
                }
                _ => Err(no_overload("_[_]", &value, &index)),
            }
        }
        Node::Not(operand) => Ok(Val::Bool(!as_bool(eval(operand, event))?)),
        Node::And(l, r) => {
            let (a, b) = (as_bool(eval(l, event)), as_bool(eval(r, event)));
            match (a, b) {
                (Ok(false), _) | (_, Ok(false)) => Ok(Val::Bool(false)),
                (Ok(true), Ok(true)) => Ok(Val::Bool(true)),
                (Err(err), _) | (_, Err(err)) => Err(err),
            }
        }
        Node::Or(l, r) => {
            let (a, b) = (as_bool(eval(l, event)), as_bool(eval(r, event)));
            match (a, b) {
                (Ok(true), _) | (_, Ok(true)) => Ok(Val::Bool(true)),
                (Ok(false), Ok(false)) => Ok(Val::Bool(false)),
                (Err(err), _) | (_, Err(err)) => Err(err),
            }
        }
        Node::Cond(c, a, b) => {
            if as_bool(eval(c, event))? {
                eval(a, event)
            } else {
                eval(b, event)
            }
        }
        Node::Compare(op, l, r) => {
            let (a, b) = (eval(l, event)?, eval(r, event)?);
            Ok(Val::Bool(match op {
                CmpOp::Eq => equals(&a, &b),
                CmpOp::Ne => !equals(&a, &b),
                _ => order(*op, &a, &b)?,
            }))
        }
        Node::In(l, r) => {
            let (needle, haystack) = (eval(l, event)?, eval(r, event)?);
            match (&needle, &haystack) {
                (_, Val::List(items)) => Ok(Val::Bool(items.iter().any(|i| equals(&needle, i)))),
                (Val::Str(key), Val::Map(map)) => Ok(Val::Bool(map.contains_key(key))),
                _ => Err(no_overload("@in", &needle, &haystack)),
            }
        }
        Node::Call(func, args) => {
            let values = args
                .iter()
                .map(|a| eval(a, event))
                .collect::<Result<Vec<_>, _>>()?;
            match (func, values.as_slice()) {
                (Func::Size, [Val::Str(s)]) => Ok(Val::Int(s.chars().count() as i64)),
                (Func::Size, [Val::List(items)]) => Ok(Val::Int(items.len() as i64)),
                (Func::Size, [Val::Map(map)]) => Ok(Val::Int(map.len() as i64)),
                (Func::StartsWith, [Val::Str(s), Val::Str(p)]) => {
                    Ok(Val::Bool(s.starts_with(p.as_str())))
                }
                (Func::EndsWith, [Val::Str(s), Val::Str(p)]) => {
                    Ok(Val::Bool(s.ends_with(p.as_str())))
                }
                (Func::Contains, [Val::Str(s), Val::Str(p)]) => {
                    Ok(Val::Bool(s.contains(p.as_str())))
                }
                (func, values) => Err(EvalError(format!(
                    "no such overload: {func:?}({})",
                    values
                        .iter()
                        .map(Val::type_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "id": "1",
            "type": "task.completed",
            "source": "chat-api",
            "specversion": "1.0",
            "data": {
                "task": {"id": "t1", "priority": 3, "tags": ["home", "urgent"], "done": true, "note": null},
                "count": 2.5
            }
        })
    }

    fn eval_ok(source: &str) -> bool {
        compile(source)
            .unwrap_or_else(|err| panic!("{source}: {err}"))
            .matches(&event())
            .unwrap_or_else(|err| panic!("{source}: {err}"))
    }

    fn eval_err(source: &str) -> String {
        compile(source)
            .unwrap_or_else(|err| panic!("{source}: {err}"))
            .matches(&event())
            .expect_err(source)
            .0
    }

    fn compile_err(source: &str) -> String {
        compile(source).expect_err(source).0
    }

    #[test]
    fn equality_on_the_event_type() {
        assert!(eval_ok(r#"event.type == "task.completed""#));
        assert!(!eval_ok(r#"event.type == "com.dapr.event.sent""#));
        assert!(eval_ok(r#"event.type != 'task.created'"#));
    }

    #[test]
    fn nested_data_fields() {
        assert!(eval_ok("event.data.task.id == \"t1\""));
        assert!(eval_ok("event.data.task.done"));
        assert!(eval_ok("event.data.task.note == null"));
        assert!(eval_ok("event[\"data\"][\"task\"].id == 't1'"));
        assert!(eval_ok("event.data.task.tags[1] == 'urgent'"));
    }

    #[test]
    fn json_numbers_equal_int_and_double_literals() {
        assert!(eval_ok("event.data.task.priority == 3"));
        assert!(eval_ok("event.data.task.priority == 3.0"));
        assert!(eval_ok("event.data.task.priority == 3u"));
        assert!(!eval_ok("event.data.task.priority == '3'"));
    }

    #[test]
    fn ordering_needs_matching_types() {
        assert!(eval_ok("event.data.task.priority >= 3.0"));
        assert!(eval_ok("event.data.count < 3.0"));
        assert!(eval_ok("event.type > 'task'"));
        assert!(eval_err("event.data.task.priority > 2").contains("no such overload"));
    }

    #[test]
    fn boolean_operators_and_precedence() {
        assert!(eval_ok(
            "event.type == 'x' || event.source == 'chat-api' && true"
        ));
        assert!(!eval_ok(
            "(event.type == 'x' || event.source == 'chat-api') && false"
        ));
        assert!(eval_ok("!(event.type == 'x')"));
        assert!(eval_ok("!!true"));
        assert!(eval_ok("event.data.task.done ? true : false"));
    }

    #[test]
    fn a_missing_field_is_an_error_that_logical_operators_can_absorb() {
        assert_eq!(eval_err("event.data.missing == 1"), "no such key: missing");
        assert_eq!(
            eval_err("event.nothing.deeper == 1"),
            "no such key: nothing"
        );
        assert!(!eval_ok("false && event.data.missing == 1"));
        assert!(!eval_ok("event.data.missing == 1 && false"));
        assert!(eval_ok("event.data.missing == 1 || true"));
        assert!(eval_err("event.data.missing == 1 || false").contains("no such key"));
    }

    #[test]
    fn has_guards_a_missing_field() {
        assert!(!eval_ok("has(event.data.missing)"));
        assert!(eval_ok("has(event.data.task)"));
        assert!(!eval_ok(
            "has(event.data.missing) && event.data.missing == 1"
        ));
        assert!(eval_err("has(event.nothing.deeper)").contains("no such key"));
    }

    #[test]
    fn in_and_string_functions() {
        assert!(eval_ok("event.type in ['task.completed', 'task.deleted']"));
        assert!(!eval_ok("event.type in []"));
        assert!(eval_ok("'urgent' in event.data.task.tags"));
        assert!(eval_ok("'task' in event.data"));
        assert!(eval_ok("event.type.startsWith('task.')"));
        assert!(eval_ok("event.type.endsWith('.completed')"));
        assert!(eval_ok("event.source.contains('chat')"));
        assert!(eval_ok("size(event.data.task.tags) == 2"));
        assert!(eval_ok("event.type.size() == 14"));
    }

    #[test]
    fn literals() {
        assert!(eval_ok(r#""a\"b" == 'a"b'"#));
        assert!(eval_ok(r#"r"a\n" != "a\n""#));
        assert!(eval_ok("'\\u00e9' == 'é'"));
        assert!(eval_ok("-1 < 0"));
        assert!(eval_ok("1e3 == 1000.0"));
        assert!(eval_ok("0x10 == 16"));
        assert!(eval_ok("null == null"));
    }

    #[test]
    fn a_non_boolean_result_is_an_error() {
        assert!(eval_err("event.type").contains("was not a boolean"));
        assert!(compile_err("'text'").contains("not a boolean"));
    }

    #[test]
    fn expressions_outside_the_subset_fail_to_compile() {
        assert!(compile_err("event.data.count + 1 == 2").contains("`+`"));
        assert!(compile_err("event.data.count * 2 == 2").contains("`*`"));
        assert!(compile_err("{'a': 1} == event.data").contains("`{`"));
        assert!(compile_err("matches(event.type, 'x')").contains("function `matches`"));
        assert!(compile_err("event.type.matches('x')").contains("method `matches`"));
        assert!(compile_err("other.type == 'x'").contains("undeclared reference to `other`"));
        assert!(compile_err("event.type = 'x'").contains("`=`"));
        assert!(compile_err("event.type ==").contains("end of expression"));
        assert!(compile_err("(event.type == 'x'").contains("expected `)`"));
        assert!(compile_err("event.type == 'x' 'y'").contains("unexpected"));
        assert!(compile_err("'a' < 1").contains("no matching overload"));
        assert!(compile_err("!'a'").contains("no matching overload"));
        assert!(compile_err("has(event)").contains("has()"));
        assert!(compile_err("'unterminated").contains("unterminated"));
        assert!(compile_err("b'bytes' == event.data").contains("bytes"));
    }

    #[test]
    fn the_source_is_kept_trimmed() {
        assert_eq!(
            compile("  event.type == 'x' ").expect("compiles").source(),
            "event.type == 'x'"
        );
    }
}
