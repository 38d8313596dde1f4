//! The phrasing table: what the offline assistant makes of each message, against fixed clocks
//! (Berlin just before and after its DST changes, New York before its own) and a fixed set of the
//! user's tasks. Every call is also checked with the REST API's own parsers (`ToolCall::parse`).
use assistant::{Context, Memory, TaskSummary, ToolCall, Understood, understand};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use todo_domain::tz::Tz;
use uuid::Uuid;

const RENT: u128 = 1;
const DENTIST: u128 = 2;
const DENTIST_DONE: u128 = 3;
const MILK: u128 = 4;
const REPORT: u128 = 5;
const FLIGHTS: u128 = 6;
const BUDGET: u128 = 7;
const MOM: u128 = 8;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn task(id: u128, title: &str, completed: bool, due: Option<&str>, tags: &[&str]) -> TaskSummary {
    TaskSummary {
        id: Uuid::from_u128(id),
        title: title.to_owned(),
        completed,
        due_date: due.map(utc),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// The user's tasks, as chat-api would list them for a title reference.
fn tasks() -> Vec<TaskSummary> {
    vec![
        task(
            RENT,
            "Pay rent",
            false,
            Some("2026-04-01T07:00:00Z"),
            &["home"],
        ),
        task(
            DENTIST,
            "Call the dentist",
            false,
            Some("2026-03-30T13:00:00Z"),
            &[],
        ),
        task(DENTIST_DONE, "Dentist appointment", true, None, &[]),
        task(MILK, "Buy milk", false, None, &[]),
        task(
            REPORT,
            "Write report",
            false,
            Some("2026-03-27T16:00:00Z"),
            &["work"],
        ),
        task(FLIGHTS, "Book flights", false, None, &[]),
        task(BUDGET, "Review budget", true, None, &[]),
        task(MOM, "Call mom", false, None, &[]),
    ]
}

fn by_id(id: u128) -> TaskSummary {
    tasks()
        .into_iter()
        .find(|t| t.id == Uuid::from_u128(id))
        .unwrap()
}

/// "1. Buy milk, 2. Call the dentist, 3. Pay rent, 4. Write report" was the last list; "Write
/// report" the last task touched.
fn memory() -> Memory {
    Memory {
        last_list: vec![by_id(MILK), by_id(DENTIST), by_id(RENT), by_id(REPORT)],
        last_task: Some(by_id(REPORT)),
        pending: None,
    }
}

fn context(now: &str, zone: Tz) -> Context {
    Context {
        now: utc(now),
        time_zone: zone,
        memory: memory(),
    }
}

/// Friday 27 March 2026, 11:00 in Berlin; the clocks spring forward on Sunday the 29th.
fn spring() -> Context {
    context(
        "2026-03-27T10:00:00Z",
        todo_domain::tz::Tz::known("Europe/Berlin"),
    )
}

/// Saturday 24 October 2026, 12:00 in Berlin; the clocks fall back on Sunday the 25th.
fn autumn() -> Context {
    context(
        "2026-10-24T10:00:00Z",
        todo_domain::tz::Tz::known("Europe/Berlin"),
    )
}

/// Saturday 7 March 2026, 10:00 in New York; the clocks spring forward on Sunday the 8th.
fn new_york() -> Context {
    context(
        "2026-03-07T15:00:00Z",
        todo_domain::tz::Tz::known("America/New_York"),
    )
}

type Row = (&'static str, Expect);

#[derive(Debug)]
enum Expect {
    Call(&'static str, Value),
    /// A "which one?" listing these titles.
    Ask(Vec<&'static str>),
    /// A text answer containing this.
    Reply(&'static str),
}

fn with_zone(mut arguments: Value, zone: &str) -> Value {
    arguments["time_zone"] = json!(zone);
    arguments
}

fn add(arguments: Value) -> Expect {
    Expect::Call("add_task", with_zone(arguments, "Europe/Berlin"))
}

fn list(arguments: Value) -> Expect {
    Expect::Call("list_tasks", arguments)
}

fn complete(id: u128) -> Expect {
    Expect::Call("complete_task", json!({"task_id": Uuid::from_u128(id)}))
}

fn delete(id: u128) -> Expect {
    Expect::Call("delete_task", json!({"task_id": Uuid::from_u128(id)}))
}

fn update(id: u128, mut changes: Value) -> Expect {
    changes["task_id"] = json!(Uuid::from_u128(id));
    Expect::Call("update_task", changes)
}

/// An update that sets a due date also states the zone it was read in.
fn reschedule(id: u128, due: &str) -> Expect {
    update(id, json!({"due_date": due, "time_zone": "Europe/Berlin"}))
}

/// What the user's message finally does, resolving a title reference as chat-api would.
fn outcome(text: &str, context: &Context) -> Understood {
    match understand(text, context) {
        Understood::NeedsTasks(pending) => {
            let resolved = pending.resolve(&tasks(), context);
            assert!(
                !matches!(resolved, Understood::NeedsTasks(_)),
                "{text}: resolving must settle it"
            );
            resolved
        }
        other => other,
    }
}

/// The published schema of the REST body the call's arguments stand for.
fn matches_schema(call: &ToolCall) -> Result<(), String> {
    match call {
        ToolCall::AddTask { task } => {
            contract_schemas::validate("task-create.schema.json", &Value::Object(task.clone()))
        }
        ToolCall::UpdateTask { changes, .. } => {
            contract_schemas::validate("task-patch.schema.json", &Value::Object(changes.clone()))
        }
        _ => Ok(()),
    }
}

fn check(context: &Context, rows: Vec<Row>) -> usize {
    let mut failures = Vec::new();
    for (text, expect) in &rows {
        let got = outcome(text, context);
        let ok = match (expect, &got) {
            (Expect::Call(name, arguments), Understood::Call(call)) => {
                if let Err(e) = ToolCall::parse(call.name(), &call.arguments(), context.now) {
                    failures.push(format!("{text:?}: the API refuses {call:?}: {e}"));
                }
                if let Err(e) = matches_schema(call) {
                    failures.push(format!("{text:?}: {e}"));
                }
                call.name() == *name && call.arguments() == *arguments
            }
            (Expect::Ask(titles), Understood::Ask(question)) => {
                let asked: Vec<&str> = question
                    .candidates
                    .iter()
                    .map(|t| t.title.as_str())
                    .collect();
                asked == *titles && titles.iter().all(|t| question.question.contains(t))
            }
            (Expect::Reply(part), Understood::Reply(reply)) => reply.contains(part),
            _ => false,
        };
        if !ok {
            let got = match &got {
                Understood::Call(call) => format!("{} {}", call.name(), call.arguments()),
                other => format!("{other:?}"),
            };
            failures.push(format!(
                "{text:?}\n   expected {expect:?}\n   got      {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} phrasings failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    rows.len()
}

fn adds() -> Vec<Row> {
    vec![
        ("add buy milk", add(json!({"title": "buy milk"}))),
        (
            "add pay rent tomorrow 5pm",
            add(json!({"title": "pay rent", "due_date": "2026-03-28T16:00:00Z"})),
        ),
        (
            "add call mom next friday",
            add(json!({"title": "call mom", "due_date": "2026-04-03T07:00:00Z"})),
        ),
        (
            "add stretch in 2 hours",
            add(json!({"title": "stretch", "due_date": "2026-03-27T12:00:00Z"})),
        ),
        (
            "add dentist on 3 March",
            add(json!({"title": "dentist", "due_date": "2027-03-03T08:00:00Z"})),
        ),
        (
            "add file taxes end of month",
            add(json!({"title": "file taxes", "due_date": "2026-03-31T07:00:00Z"})),
        ),
        (
            "add standup at 9am",
            add(json!({"title": "standup", "due_date": "2026-03-28T08:00:00Z"})),
        ),
        (
            "add pay rent on the 1st",
            add(json!({"title": "pay rent", "due_date": "2026-04-01T07:00:00Z"})),
        ),
        (
            "add water plants in 30 minutes",
            add(json!({"title": "water plants", "due_date": "2026-03-27T10:30:00Z"})),
        ),
        (
            "add send invoice tomorrow",
            add(json!({"title": "send invoice", "due_date": "2026-03-28T08:00:00Z"})),
        ),
        // Sunday is after the spring-forward: 09:00 is UTC+2.
        (
            "add brunch sunday 9am",
            add(json!({"title": "brunch", "due_date": "2026-03-29T07:00:00Z"})),
        ),
        // 02:30 does not exist that night: it moves forward by the gap, to 03:30 CEST.
        (
            "add night shift sunday 2:30am",
            add(json!({"title": "night shift", "due_date": "2026-03-29T01:30:00Z"})),
        ),
        (
            "add team lunch at noon",
            add(json!({"title": "team lunch", "due_date": "2026-03-27T11:00:00Z"})),
        ),
        (
            "add pack bags tonight",
            add(json!({"title": "pack bags", "due_date": "2026-03-27T19:00:00Z"})),
        ),
        // 09:00 has passed today: a day-only "today" means the end of the day.
        (
            "add finish slides today",
            add(json!({"title": "finish slides", "due_date": "2026-03-27T22:59:00Z"})),
        ),
        (
            "add gym tomorrow morning",
            add(json!({"title": "gym", "due_date": "2026-03-28T08:00:00Z"})),
        ),
        (
            "add dinner with Sam tomorrow evening",
            add(json!({"title": "dinner with Sam", "due_date": "2026-03-28T17:00:00Z"})),
        ),
        (
            "add review PR in 3 days",
            add(json!({"title": "review PR", "due_date": "2026-03-30T07:00:00Z"})),
        ),
        (
            "add call bank monday",
            add(json!({"title": "call bank", "due_date": "2026-03-30T07:00:00Z"})),
        ),
        (
            "add plan sprint next week",
            add(json!({"title": "plan sprint", "due_date": "2026-03-30T07:00:00Z"})),
        ),
        (
            "add budget review next month",
            add(json!({"title": "budget review", "due_date": "2026-04-01T07:00:00Z"})),
        ),
        (
            "add doctor march 31 at 14:30",
            add(json!({"title": "doctor", "due_date": "2026-03-31T12:30:00Z"})),
        ),
        (
            "add buy gifts 2026-12-24",
            add(json!({"title": "buy gifts", "due_date": "2026-12-24T08:00:00Z"})),
        ),
        (
            "add haircut the day after tomorrow",
            add(json!({"title": "haircut", "due_date": "2026-03-29T07:00:00Z"})),
        ),
        (
            "add clean garage this weekend",
            add(json!({"title": "clean garage", "due_date": "2026-03-28T08:00:00Z"})),
        ),
        (
            "add book club 3rd of april at 7pm",
            add(json!({"title": "book club", "due_date": "2026-04-03T17:00:00Z"})),
        ),
        (
            "add renew passport april 3rd 2027",
            add(json!({"title": "renew passport", "due_date": "2027-04-03T07:00:00Z"})),
        ),
        (
            "add call grandma tomorrow at 5",
            add(json!({"title": "call grandma", "due_date": "2026-03-28T16:00:00Z"})),
        ),
        (
            "add meeting tomorrow at 10:30",
            add(json!({"title": "meeting", "due_date": "2026-03-28T09:30:00Z"})),
        ),
        (
            "add submit form by friday",
            add(json!({"title": "submit form", "due_date": "2026-04-03T07:00:00Z"})),
        ),
        (
            "add check mail due tomorrow 8am",
            add(json!({"title": "check mail", "due_date": "2026-03-28T07:00:00Z"})),
        ),
        (
            "add walk dog in an hour",
            add(json!({"title": "walk dog", "due_date": "2026-03-27T11:00:00Z"})),
        ),
        (
            "add nap in half an hour",
            add(json!({"title": "nap", "due_date": "2026-03-27T10:30:00Z"})),
        ),
        (
            "add pay bills in 2 weeks",
            add(json!({"title": "pay bills", "due_date": "2026-04-10T07:00:00Z"})),
        ),
        (
            "add write blog 5:30pm",
            add(json!({"title": "write blog", "due_date": "2026-03-27T16:30:00Z"})),
        ),
        (
            "add deploy at 17:00 tomorrow",
            add(json!({"title": "deploy", "due_date": "2026-03-28T16:00:00Z"})),
        ),
        (
            "add this friday wrap-up",
            add(json!({"title": "wrap-up", "due_date": "2026-03-27T22:59:00Z"})),
        ),
        (
            "add read the 3rd chapter",
            add(json!({"title": "read the 3rd chapter"})),
        ),
        ("add buy 2 apples", add(json!({"title": "buy 2 apples"}))),
        // priorities
        (
            "add fix prod bug urgent",
            add(json!({"title": "fix prod bug", "priority": "high"})),
        ),
        (
            "add taxes high priority",
            add(json!({"title": "taxes", "priority": "high"})),
        ),
        (
            "add read book !low",
            add(json!({"title": "read book", "priority": "low"})),
        ),
        (
            "add water plants low priority",
            add(json!({"title": "water plants", "priority": "low"})),
        ),
        (
            "add call plumber !high tomorrow 8am",
            add(
                json!({"title": "call plumber", "priority": "high", "due_date": "2026-03-28T07:00:00Z"}),
            ),
        ),
        (
            "add update docs with medium priority",
            add(json!({"title": "update docs", "priority": "medium"})),
        ),
        (
            "add important: renew insurance",
            add(json!({"title": "renew insurance", "priority": "high"})),
        ),
        (
            "add p1 fix login",
            add(json!({"title": "fix login", "priority": "high"})),
        ),
        (
            "add clean desk priority low",
            add(json!({"title": "clean desk", "priority": "low"})),
        ),
        // tags
        (
            "add prepare slides #work",
            add(json!({"title": "prepare slides", "tags": ["work"]})),
        ),
        (
            "add buy paint #home #DIY",
            add(json!({"title": "buy paint", "tags": ["diy", "home"]})),
        ),
        (
            "add send report friday #work urgent",
            add(
                json!({"title": "send report", "due_date": "2026-04-03T07:00:00Z", "tags": ["work"], "priority": "high"}),
            ),
        ),
        (
            "add read paper tagged research",
            add(json!({"title": "read paper", "tags": ["research"]})),
        ),
        // reminders
        (
            "remind me to pay rent on the 1st of every month at 9am",
            add(
                json!({"title": "pay rent", "due_date": "2026-04-01T07:00:00Z", "recurrence_rule": "monthly", "reminder_offset_minutes": 0}),
            ),
        ),
        (
            "remind me to call mom tomorrow 5pm",
            add(
                json!({"title": "call mom", "due_date": "2026-03-28T16:00:00Z", "reminder_offset_minutes": 0}),
            ),
        ),
        (
            "add dentist friday 3pm remind me 30 minutes before",
            add(
                json!({"title": "dentist", "due_date": "2026-04-03T13:00:00Z", "reminder_offset_minutes": 30}),
            ),
        ),
        (
            "add flight tomorrow 6am, remind me 2 hours before",
            add(
                json!({"title": "flight", "due_date": "2026-03-28T05:00:00Z", "reminder_offset_minutes": 120}),
            ),
        ),
        (
            "add exam on 3 april with a reminder a day before",
            add(
                json!({"title": "exam", "due_date": "2026-04-03T07:00:00Z", "reminder_offset_minutes": 1440}),
            ),
        ),
        (
            "remind me to stretch in 2 hours",
            add(
                json!({"title": "stretch", "due_date": "2026-03-27T12:00:00Z", "reminder_offset_minutes": 0}),
            ),
        ),
        (
            "add call with a reminder 1 hour before",
            Expect::Reply("A reminder needs a due date"),
        ),
        ("remind me to buy milk", add(json!({"title": "buy milk"}))),
        (
            "add meeting monday 10am and remind me 15 minutes before",
            add(
                json!({"title": "meeting", "due_date": "2026-03-30T08:00:00Z", "reminder_offset_minutes": 15}),
            ),
        ),
        (
            "add train at 8pm, remind me the day before",
            add(
                json!({"title": "train", "due_date": "2026-03-27T19:00:00Z", "reminder_offset_minutes": 1440}),
            ),
        ),
        // recurrence
        (
            "add standup every weekday at 9:30",
            add(
                json!({"title": "standup", "due_date": "2026-03-30T07:30:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}),
            ),
        ),
        (
            "add 1:1 every 2 weeks on monday",
            add(
                json!({"title": "1:1", "due_date": "2026-03-30T07:00:00Z", "recurrence_rule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"}),
            ),
        ),
        (
            "add pay rent monthly on the 1st",
            add(
                json!({"title": "pay rent", "due_date": "2026-04-01T07:00:00Z", "recurrence_rule": "monthly"}),
            ),
        ),
        (
            "add renew domain every year",
            add(
                json!({"title": "renew domain", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "yearly"}),
            ),
        ),
        (
            "add take vitamins daily",
            add(
                json!({"title": "take vitamins", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "daily"}),
            ),
        ),
        (
            "add water plants every! 3 days",
            add(
                json!({"title": "water plants", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "every 3 days", "repeat_from": "completion"}),
            ),
        ),
        (
            "add team sync every monday at 9am",
            add(
                json!({"title": "team sync", "due_date": "2026-03-30T07:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO"}),
            ),
        ),
        (
            "add brunch every sunday at 10am",
            add(
                json!({"title": "brunch", "due_date": "2026-03-29T08:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=SU"}),
            ),
        ),
        (
            "add invoice on the last day of every month",
            add(
                json!({"title": "invoice", "due_date": "2026-03-31T07:00:00Z", "recurrence_rule": "FREQ=MONTHLY;BYMONTHDAY=-1"}),
            ),
        ),
        (
            "add journal every evening",
            add(
                json!({"title": "journal", "due_date": "2026-03-27T17:00:00Z", "recurrence_rule": "daily"}),
            ),
        ),
        (
            "add backup every 1st of the month",
            add(
                json!({"title": "backup", "due_date": "2026-04-01T07:00:00Z", "recurrence_rule": "monthly"}),
            ),
        ),
        (
            "add anniversary yearly on 3 april",
            add(
                json!({"title": "anniversary", "due_date": "2026-04-03T07:00:00Z", "recurrence_rule": "yearly"}),
            ),
        ),
        (
            "add mow lawn every other week",
            add(
                json!({"title": "mow lawn", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "every 2 weeks"}),
            ),
        ),
        (
            "add gym every monday and thursday at 7pm",
            add(
                json!({"title": "gym", "due_date": "2026-03-30T17:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,TH"}),
            ),
        ),
        (
            "add review goals every 3 months",
            add(
                json!({"title": "review goals", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "FREQ=MONTHLY;INTERVAL=3"}),
            ),
        ),
        (
            "add clean fridge every! 2 weeks",
            add(
                json!({"title": "clean fridge", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "every 2 weeks", "repeat_from": "completion"}),
            ),
        ),
        (
            "add call parents on sundays",
            add(
                json!({"title": "call parents", "due_date": "2026-03-29T07:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=SU"}),
            ),
        ),
        (
            "add timesheet every friday at 4pm",
            add(
                json!({"title": "timesheet", "due_date": "2026-03-27T15:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=FR"}),
            ),
        ),
        (
            "add laundry weekly",
            add(
                json!({"title": "laundry", "due_date": "2026-03-28T08:00:00Z", "recurrence_rule": "weekly"}),
            ),
        ),
        ("add check logs every hour", Expect::Reply("not every hour")),
        (
            "add pay rent on the 15th of each month at 9am urgent #home",
            add(
                json!({"title": "pay rent", "due_date": "2026-04-15T07:00:00Z", "recurrence_rule": "monthly", "priority": "high", "tags": ["home"]}),
            ),
        ),
        (
            "add stand up every weekday",
            add(
                json!({"title": "stand up", "due_date": "2026-03-30T07:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}),
            ),
        ),
        (
            "add yoga every weekend at 8am",
            add(
                json!({"title": "yoga", "due_date": "2026-03-28T07:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=SA,SU"}),
            ),
        ),
        // other ways to add
        (
            "create a task to email Bob",
            add(json!({"title": "email Bob"})),
        ),
        (
            "new task: book flights",
            add(json!({"title": "book flights"})),
        ),
        ("todo: buy stamps", add(json!({"title": "buy stamps"}))),
        (
            "I need to renew my passport next month",
            add(json!({"title": "renew my passport", "due_date": "2026-04-01T07:00:00Z"})),
        ),
        (
            "don't forget to call the vet tomorrow",
            add(json!({"title": "call the vet", "due_date": "2026-03-28T08:00:00Z"})),
        ),
        ("add buy eggs to my list", add(json!({"title": "buy eggs"}))),
        (
            "please add call Anna tomorrow at 11am",
            add(json!({"title": "call Anna", "due_date": "2026-03-28T10:00:00Z"})),
        ),
        (
            "add \"meeting on monday prep\" friday",
            add(json!({"title": "meeting on monday prep", "due_date": "2026-04-03T07:00:00Z"})),
        ),
        (
            "remember to lock the door tonight",
            add(json!({"title": "lock the door", "due_date": "2026-03-27T19:00:00Z"})),
        ),
        (
            "schedule dentist checkup friday 3pm",
            add(json!({"title": "dentist checkup", "due_date": "2026-04-03T13:00:00Z"})),
        ),
        ("add a task to call mom", add(json!({"title": "call mom"}))),
        (
            "add submit timesheet every other friday",
            add(
                json!({"title": "submit timesheet", "due_date": "2026-04-03T07:00:00Z", "recurrence_rule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"}),
            ),
        ),
        (
            "remind me to take out the trash every monday night",
            add(
                json!({"title": "take out the trash", "due_date": "2026-03-30T18:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO", "reminder_offset_minutes": 0}),
            ),
        ),
        (
            "add email Sarah re: contract by eod",
            add(json!({"title": "email Sarah re: contract", "due_date": "2026-03-27T16:00:00Z"})),
        ),
        (
            "add go to the gym every tuesday and thursday at 6pm",
            add(
                json!({"title": "go to the gym", "due_date": "2026-03-31T16:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=TU,TH"}),
            ),
        ),
        (
            "add meeting with John on Monday at 2:30 PM",
            add(json!({"title": "meeting with John", "due_date": "2026-03-30T12:30:00Z"})),
        ),
        (
            "add pay the electricity bill by the 15th",
            add(json!({"title": "pay the electricity bill", "due_date": "2026-04-15T07:00:00Z"})),
        ),
        (
            "remind me tomorrow to call the bank",
            add(
                json!({"title": "call the bank", "due_date": "2026-03-28T08:00:00Z", "reminder_offset_minutes": 0}),
            ),
        ),
        (
            "add quarterly report every 3 months on the 1st",
            add(
                json!({"title": "quarterly report", "due_date": "2026-04-01T07:00:00Z", "recurrence_rule": "FREQ=MONTHLY;INTERVAL=3"}),
            ),
        ),
        (
            "remind me in 10 minutes to check the oven",
            add(
                json!({"title": "check the oven", "due_date": "2026-03-27T10:10:00Z", "reminder_offset_minutes": 0}),
            ),
        ),
        ("add fix bug #123", add(json!({"title": "fix bug #123"}))),
        ("add", Expect::Reply("What's the task?")),
    ]
}

fn lists() -> Vec<Row> {
    let today = json!({"status": "active", "due_after": "2026-03-26T22:59:59Z", "due_before": "2026-03-27T23:00:00Z", "sort": "due_date"});
    let tomorrow = json!({"status": "active", "due_after": "2026-03-27T22:59:59Z", "due_before": "2026-03-28T23:00:00Z", "sort": "due_date"});
    // This week ends at Monday's midnight, which is already summer time.
    let this_week = json!({"status": "active", "due_after": "2026-03-22T22:59:59Z", "due_before": "2026-03-29T22:00:00Z", "sort": "due_date"});
    let open = json!({"status": "active", "sort": "due_date"});
    vec![
        ("what's due today?", list(today.clone())),
        (
            "show my high priority work tasks",
            list(
                json!({"status": "active", "priority": ["high"], "tags": ["work"], "sort": "due_date"}),
            ),
        ),
        (
            "overdue",
            list(json!({"status": "active", "overdue": true, "sort": "due_date"})),
        ),
        ("what do I have this week", list(this_week.clone())),
        (
            "show completed",
            list(json!({"status": "completed", "sort": "due_date"})),
        ),
        ("show my tasks", list(open.clone())),
        (
            "list all tasks",
            list(json!({"status": "all", "sort": "due_date"})),
        ),
        ("what's due tomorrow", list(tomorrow.clone())),
        (
            "show tasks due next week",
            list(
                json!({"status": "active", "due_after": "2026-03-29T21:59:59Z", "due_before": "2026-04-05T22:00:00Z", "sort": "due_date"}),
            ),
        ),
        (
            "what's overdue?",
            list(json!({"status": "active", "overdue": true, "sort": "due_date"})),
        ),
        (
            "show low priority tasks",
            list(json!({"status": "active", "priority": ["low"], "sort": "due_date"})),
        ),
        (
            "show urgent tasks",
            list(json!({"status": "active", "priority": ["high"], "sort": "due_date"})),
        ),
        (
            "show #home tasks",
            list(json!({"status": "active", "tags": ["home"], "sort": "due_date"})),
        ),
        (
            "list tasks tagged work",
            list(json!({"status": "active", "tags": ["work"], "sort": "due_date"})),
        ),
        (
            "show recurring tasks",
            list(json!({"status": "active", "is_recurring": true, "sort": "due_date"})),
        ),
        (
            "show tasks without a due date",
            list(json!({"status": "active", "has_due_date": false, "sort": "due_date"})),
        ),
        (
            "show my tasks sorted by priority",
            list(json!({"status": "active", "sort": "priority"})),
        ),
        (
            "list tasks by title",
            list(json!({"status": "active", "sort": "title"})),
        ),
        (
            "show newest tasks",
            list(json!({"status": "active", "sort": "created_at", "order": "desc"})),
        ),
        (
            "find tasks about dentist",
            list(json!({"status": "active", "search": "dentist", "sort": "due_date"})),
        ),
        (
            "search for invoice",
            list(json!({"status": "active", "search": "invoice", "sort": "due_date"})),
        ),
        (
            "what's coming up",
            list(
                json!({"status": "active", "due_after": "2026-03-27T10:00:00Z", "due_before": "2026-04-03T10:00:00Z", "sort": "due_date"}),
            ),
        ),
        (
            "what do I have this month",
            list(
                json!({"status": "active", "due_after": "2026-02-28T22:59:59Z", "due_before": "2026-03-31T22:00:00Z", "sort": "due_date"}),
            ),
        ),
        (
            "show in progress tasks",
            list(json!({"status": "in_progress", "sort": "due_date"})),
        ),
        ("what's left", list(open.clone())),
        (
            "show completed work tasks",
            list(json!({"status": "completed", "tags": ["work"], "sort": "due_date"})),
        ),
        ("show my open tasks due today", list(today.clone())),
        ("tasks", list(open)),
        ("do i have anything due tomorrow?", list(tomorrow)),
        (
            "find groceries",
            list(json!({"status": "active", "search": "groceries", "sort": "due_date"})),
        ),
        (
            "show overdue high priority tasks",
            list(
                json!({"status": "active", "overdue": true, "priority": ["high"], "sort": "due_date"}),
            ),
        ),
        ("what's on my agenda this week", list(this_week)),
        (
            "show everything",
            list(json!({"status": "all", "sort": "due_date"})),
        ),
        ("what is due today", list(today)),
        (
            "how many tasks do i have",
            list(json!({"status": "active", "sort": "due_date"})),
        ),
        (
            "anything overdue?",
            list(json!({"status": "active", "overdue": true, "sort": "due_date"})),
        ),
        (
            "show tasks for tomorrow",
            list(
                json!({"status": "active", "due_after": "2026-03-27T22:59:59Z", "due_before": "2026-03-28T23:00:00Z", "sort": "due_date"}),
            ),
        ),
        (
            "show my tasks due in the next 2 days",
            list(
                json!({"status": "active", "due_after": "2026-03-27T10:00:00Z", "due_before": "2026-03-29T10:00:00Z", "sort": "due_date"}),
            ),
        ),
        (
            "show tasks tagged #home and #urgent",
            list(json!({"status": "active", "tags": ["home", "urgent"], "sort": "due_date"})),
        ),
        (
            "show tasks due",
            list(json!({"status": "active", "has_due_date": true, "sort": "due_date"})),
        ),
    ]
}

fn changes() -> Vec<Row> {
    vec![
        // complete: by number from the last list, by title, "it"
        ("done with 2", complete(DENTIST)),
        ("complete pay rent", complete(RENT)),
        ("mark 3 as done", complete(RENT)),
        ("I finished the report", complete(REPORT)),
        ("check off buy milk", complete(MILK)),
        ("2 is done", complete(DENTIST)),
        ("finished 4", complete(REPORT)),
        ("complete the last one", complete(REPORT)),
        ("done with the first one", complete(MILK)),
        ("complete it", complete(REPORT)),
        ("tick off #1", complete(MILK)),
        ("complete task 3", complete(RENT)),
        ("complete dentist", complete(DENTIST)),
        (
            "complete call",
            Expect::Ask(vec!["Call the dentist", "Call mom"]),
        ),
        (
            "complete plumber",
            Expect::Reply("couldn't find a task matching “plumber”"),
        ),
        ("done with 9", Expect::Reply("there's no number 9")),
        // reopen and start
        (
            "reopen the dentist task",
            update(DENTIST_DONE, json!({"status": "pending"})),
        ),
        ("undo 2", update(DENTIST, json!({"status": "pending"}))),
        (
            "mark 1 as not done",
            update(MILK, json!({"status": "pending"})),
        ),
        (
            "reopen review budget",
            update(BUDGET, json!({"status": "pending"})),
        ),
        ("start 4", update(REPORT, json!({"status": "in_progress"}))),
        (
            "I'm working on pay rent",
            update(RENT, json!({"status": "in_progress"})),
        ),
        (
            "mark 2 as in progress",
            update(DENTIST, json!({"status": "in_progress"})),
        ),
        // delete
        ("delete 3", delete(RENT)),
        ("remove buy milk", delete(MILK)),
        ("cancel the dentist", delete(DENTIST)),
        ("get rid of book flights", delete(FLIGHTS)),
        ("delete it", delete(REPORT)),
        ("delete 9", Expect::Reply("there's no number 9")),
        // update
        (
            "rename 2 to call the orthodontist",
            update(DENTIST, json!({"title": "call the orthodontist"})),
        ),
        // Moving keeps the task's time of day (15:00 local).
        (
            "move dentist to friday",
            reschedule(DENTIST, "2026-04-03T13:00:00Z"),
        ),
        (
            "set priority of 1 to high",
            update(MILK, json!({"priority": "high"})),
        ),
        // 17:00 CET on Friday → 17:00 CEST on Monday: the wall clock is kept across the change.
        (
            "move write report to monday",
            reschedule(REPORT, "2026-03-30T15:00:00Z"),
        ),
        ("make 3 urgent", update(RENT, json!({"priority": "high"}))),
        (
            "change the title of 4 to write final report",
            update(REPORT, json!({"title": "write final report"})),
        ),
        (
            "push pay rent to next week",
            reschedule(RENT, "2026-03-30T07:00:00Z"),
        ),
        (
            "reschedule 2 for tomorrow 10am",
            reschedule(DENTIST, "2026-03-28T09:00:00Z"),
        ),
        (
            "tag 1 with #groceries",
            update(MILK, json!({"tags": ["groceries"]})),
        ),
        (
            "add tag #urgent to pay rent",
            update(RENT, json!({"tags": ["home", "urgent"]})),
        ),
        (
            "remind me 30 minutes before 2",
            update(DENTIST, json!({"reminder_offset_minutes": 30})),
        ),
        (
            "remind me an hour before it",
            update(REPORT, json!({"reminder_offset_minutes": 60})),
        ),
        (
            "make 4 repeat every monday",
            update(
                REPORT,
                json!({"recurrence_rule": "FREQ=WEEKLY;BYDAY=MO", "repeat_from": "due_date"}),
            ),
        ),
        (
            "stop repeating pay rent",
            update(RENT, json!({"recurrence_rule": null})),
        ),
        (
            "clear the due date of 2",
            update(
                DENTIST,
                json!({"due_date": null, "reminder_offset_minutes": null}),
            ),
        ),
        (
            "set 2 due date to friday 3pm",
            reschedule(DENTIST, "2026-04-03T13:00:00Z"),
        ),
        (
            "change priority of buy milk to low",
            update(MILK, json!({"priority": "low"})),
        ),
        // Buy milk has no due date; repeating needs one, so it gets the first occurrence.
        (
            "make buy milk repeat weekly",
            update(
                MILK,
                json!({"recurrence_rule": "weekly", "repeat_from": "due_date", "due_date": "2026-03-28T08:00:00Z", "time_zone": "Europe/Berlin"}),
            ),
        ),
        (
            "set the description of 3 to pay by bank transfer",
            update(RENT, json!({"description": "pay by bank transfer"})),
        ),
        (
            "describe 1 as oat milk, not dairy",
            update(MILK, json!({"description": "oat milk, not dairy"})),
        ),
        ("deprioritize 4", update(REPORT, json!({"priority": "low"}))),
        ("move 2 to 4pm", reschedule(DENTIST, "2026-03-30T14:00:00Z")),
        (
            "postpone book flights until next month",
            reschedule(FLIGHTS, "2026-04-01T07:00:00Z"),
        ),
        (
            "set reminder of 2 to 15 minutes",
            update(DENTIST, json!({"reminder_offset_minutes": 15})),
        ),
        (
            "the dentist is due friday",
            reschedule(DENTIST, "2026-04-03T13:00:00Z"),
        ),
        (
            "make it high priority",
            update(REPORT, json!({"priority": "high"})),
        ),
        (
            "set 3 to repeat monthly",
            update(
                RENT,
                json!({"recurrence_rule": "monthly", "repeat_from": "due_date"}),
            ),
        ),
        (
            "remind me 10 minutes before buy milk",
            Expect::Reply("has no due date"),
        ),
        (
            "set priority of 2 to whenever",
            Expect::Reply("low, medium or high"),
        ),
        (
            "move 3 to someday soon",
            Expect::Reply("didn't understand “someday soon” as a date"),
        ),
        ("delete all", Expect::Reply("one task at a time")),
        (
            "postpone 2 by 2 days",
            reschedule(DENTIST, "2026-04-01T13:00:00Z"),
        ),
        // Two calendar days from Friday 17:00 CET is Sunday 17:00 CEST: 47 hours later.
        (
            "postpone write report by 2 days",
            reschedule(REPORT, "2026-03-29T15:00:00Z"),
        ),
        (
            "snooze 4 for an hour",
            reschedule(REPORT, "2026-03-27T17:00:00Z"),
        ),
        (
            "postpone buy milk by a day",
            Expect::Reply("has no due date to move"),
        ),
        ("thanks", Expect::Reply("welcome")),
        ("delete", Expect::Reply("Which task?")),
        (
            "add a note to 2: call before 5",
            update(DENTIST, json!({"description": "call before 5"})),
        ),
        // help and everything else
        ("help", Expect::Reply("I can add, list")),
        ("what can you do?", Expect::Reply("I can add, list")),
        ("hello", Expect::Reply("I can add, list")),
        ("buy milk", Expect::Reply("I can add, list")),
        ("tell me a joke", Expect::Reply("I can add, list")),
        ("what's the weather", Expect::Reply("I can add, list")),
    ]
}

fn other_clocks() -> (Vec<Row>, Vec<Row>) {
    let autumn = vec![
        (
            "add call home tomorrow 9am",
            add(json!({"title": "call home", "due_date": "2026-10-25T08:00:00Z"})),
        ),
        // 02:30 happens twice that night: the first (summer time) one.
        (
            "add night bus tomorrow 2:30am",
            add(json!({"title": "night bus", "due_date": "2026-10-25T00:30:00Z"})),
        ),
        (
            "add swim every sunday at 9am",
            add(
                json!({"title": "swim", "due_date": "2026-10-25T08:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=SU"}),
            ),
        ),
        (
            "add call bank monday",
            add(json!({"title": "call bank", "due_date": "2026-10-26T08:00:00Z"})),
        ),
        (
            "add stretch in 2 hours",
            add(json!({"title": "stretch", "due_date": "2026-10-24T12:00:00Z"})),
        ),
        // Sunday has 25 hours.
        (
            "what's due tomorrow",
            list(
                json!({"status": "active", "due_after": "2026-10-24T21:59:59Z", "due_before": "2026-10-25T23:00:00Z", "sort": "due_date"}),
            ),
        ),
    ];
    let ny = |arguments: Value| Expect::Call("add_task", with_zone(arguments, "America/New_York"));
    let new_york = vec![
        (
            "add brunch tomorrow 9am",
            ny(json!({"title": "brunch", "due_date": "2026-03-08T13:00:00Z"})),
        ),
        (
            "add night owl tomorrow 2:30am",
            ny(json!({"title": "night owl", "due_date": "2026-03-08T07:30:00Z"})),
        ),
        (
            "add call today at 8pm",
            ny(json!({"title": "call", "due_date": "2026-03-08T01:00:00Z"})),
        ),
        (
            "add pay rent on the 1st",
            ny(json!({"title": "pay rent", "due_date": "2026-04-01T13:00:00Z"})),
        ),
    ];
    (autumn, new_york)
}

#[test]
fn the_phrasing_table_holds() {
    let (autumn_rows, new_york_rows) = other_clocks();
    let total = check(&spring(), adds())
        + check(&spring(), lists())
        + check(&spring(), changes())
        + check(&autumn(), autumn_rows)
        + check(&new_york(), new_york_rows);
    assert!(total >= 150, "the table has {total} phrasings");
}

#[test]
fn an_ambiguous_reference_is_asked_back_and_the_answer_finishes_the_command() {
    let mut context = spring();
    let Understood::Ask(question) = outcome("delete call", &context) else {
        panic!("expected a question");
    };
    assert!(
        question
            .question
            .contains("1. Call the dentist — due Mon 30 Mar 15:00"),
        "{}",
        question.question
    );
    assert!(question.question.contains("2. Call mom"));
    context.memory.after_question(&question);
    assert_eq!(
        outcome("the second one", &context),
        Understood::Call(ToolCall::DeleteTask {
            task_id: Uuid::from_u128(MOM)
        })
    );
    assert_eq!(
        outcome("2", &context),
        Understood::Call(ToolCall::DeleteTask {
            task_id: Uuid::from_u128(MOM)
        })
    );
    assert!(matches!(
        outcome("never mind", &context),
        Understood::Reply(_)
    ));
    // Anything else is a new message, not an answer.
    assert!(matches!(
        outcome("show my tasks", &context),
        Understood::Call(ToolCall::ListTasks { .. })
    ));
    // Once answered, a bare number means nothing.
    context.memory.after_text();
    assert!(matches!(outcome("2", &context), Understood::Reply(_)));
}

#[test]
fn the_same_message_and_clock_always_give_the_same_call() {
    let context = spring();
    for (text, _) in adds().into_iter().chain(lists()).chain(changes()) {
        assert_eq!(outcome(text, &context), outcome(text, &context), "{text}");
    }
}

#[test]
fn the_tools_are_the_ones_the_chat_contract_names() {
    let schema = contract_schemas::schema("chat-response.schema.json").unwrap();
    assert_eq!(
        schema["properties"]["tool_calls"]["items"]["$ref"],
        json!("#/$defs/ToolCall")
    );
    let names = &schema["$defs"]["ToolCall"]["properties"]["name"]["enum"];
    assert_eq!(*names, json!(assistant::TOOL_NAMES));
}
