//! Replies to tool results, with the results made by the domain itself (`Task::create` from the
//! arguments the assistant produced), and the conversation memory they leave behind.
use assistant::{Context, Memory, ToolCall, Understood, reply, understand};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use todo_domain::{Task, TaskDraft, TaskPatch};
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    "2026-11-29T10:00:00Z".parse().unwrap()
}

fn context() -> Context {
    Context {
        now: now(),
        time_zone: todo_domain::tz::Tz::known("Europe/Berlin"),
        memory: Memory::default(),
    }
}

fn call(text: &str, context: &Context) -> ToolCall {
    match understand(text, context) {
        Understood::Call(call) => call,
        other => panic!("{text}: expected a call, got {other:?}"),
    }
}

/// The task the REST API would create from an `add_task` call.
fn created(call: &ToolCall, n: u128) -> Task {
    let draft = TaskDraft::from_json(&call.arguments()).expect("the API accepts the arguments");
    Task::create(Uuid::from_u128(n), "user-1", draft, now())
}

#[test]
fn an_add_is_confirmed_with_its_due_date_recurrence_and_reminder_in_the_users_zone() {
    let context = context();
    let add = call(
        "remind me to pay rent on the 1st of every month at 9am",
        &context,
    );
    let task = created(&add, 1);
    let answer = reply(&add, &serde_json::to_value(&task).unwrap(), &context);
    assert_eq!(
        answer.text,
        "Added “pay rent” — due Tue 1 Dec 09:00, repeats monthly on the 1st, reminder at the due time."
    );
    assert_eq!(answer.task.as_ref().map(|t| t.id), Some(task.id));
    assert_eq!(answer.listed, None);

    let add = call(
        "add standup every weekday at 9:30 #work urgent, remind me 10 minutes before",
        &context,
    );
    let answer = reply(
        &add,
        &serde_json::to_value(created(&add, 2)).unwrap(),
        &context,
    );
    assert_eq!(
        answer.text,
        "Added “standup” — due Mon 30 Nov 09:30, repeats every weekday, reminder 10 minutes before, high priority, #work."
    );

    let add = call("add water plants every! 3 days", &context);
    let answer = reply(
        &add,
        &serde_json::to_value(created(&add, 3)).unwrap(),
        &context,
    );
    assert_eq!(
        answer.text,
        "Added “water plants” — due Mon 30 Nov 09:00, repeats every 3 days (counted from completion)."
    );
}

#[test]
fn a_list_is_numbered_and_remembered_so_numbers_work_next() {
    let mut context = context();
    let tasks: Vec<Task> = ["add buy milk", "add file taxes 2027-01-15 #home"]
        .iter()
        .enumerate()
        .map(|(n, text)| created(&call(text, &context), n as u128 + 1))
        .collect();
    let list = call("show my tasks", &context);
    let result = json!({"items": tasks, "next_cursor": null});
    let answer = reply(&list, &result, &context);
    assert_eq!(
        answer.text,
        "2 tasks:\n1. buy milk\n2. file taxes — due Fri 15 Jan 2027 09:00, #home"
    );
    context.memory.after_reply(&answer);
    assert_eq!(
        understand("done with 2", &context),
        Understood::Call(ToolCall::CompleteTask {
            task_id: tasks[1].id
        })
    );

    let empty = reply(&list, &json!({"items": [], "next_cursor": null}), &context);
    assert_eq!(empty.text, "No tasks match.");
}

#[test]
fn changes_are_confirmed_by_what_changed() {
    let mut context = context();
    let add = call("add dentist friday 3pm", &context);
    let mut task = created(&add, 1);
    context.memory.after_reply(&reply(
        &add,
        &serde_json::to_value(&task).unwrap(),
        &context,
    ));

    let update = call("move it to monday and make it urgent", &context);
    let ToolCall::UpdateTask { changes, .. } = &update else {
        panic!("expected an update, got {update:?}");
    };
    let patch = TaskPatch::from_json(&Value::Object(changes.clone())).unwrap();
    task.apply(patch.apply_to(&task).unwrap(), now());
    let answer = reply(&update, &serde_json::to_value(&task).unwrap(), &context);
    assert_eq!(
        answer.text,
        "Updated “dentist”: due Mon 30 Nov 15:00, high priority."
    );

    let reopen = ToolCall::UpdateTask {
        task_id: task.id,
        changes: json!({"status": "pending"}).as_object().unwrap().clone(),
    };
    assert_eq!(
        reply(&reopen, &serde_json::to_value(&task).unwrap(), &context).text,
        "Reopened “dentist”."
    );
    let delete = ToolCall::DeleteTask { task_id: task.id };
    assert_eq!(
        reply(&delete, &serde_json::to_value(&task).unwrap(), &context).text,
        "Deleted “dentist”."
    );
    let complete = ToolCall::CompleteTask { task_id: task.id };
    assert_eq!(
        reply(&complete, &serde_json::to_value(&task).unwrap(), &context).text,
        "Done: “dentist”."
    );
}

#[test]
fn an_error_result_is_explained() {
    let context = context();
    let complete = ToolCall::CompleteTask {
        task_id: Uuid::nil(),
    };
    let gone = json!({"error": {"code": "not_found", "message": "no such task"}});
    assert!(
        reply(&complete, &gone, &context)
            .text
            .contains("couldn't find that task")
    );
    let invalid = json!({"error": {"code": "validation_failed", "message": "a recurring task needs a due_date to anchor its series", "field": "recurrence_rule"}});
    assert_eq!(
        reply(&complete, &invalid, &context).text,
        "I couldn't do that: a recurring task needs a due_date to anchor its series."
    );
}

#[test]
fn memory_survives_being_stored_as_json() {
    let mut context = context();
    context.memory.pending = None;
    let Understood::NeedsTasks(pending) = understand("delete dentist", &context) else {
        panic!("a title reference needs the user's tasks");
    };
    assert_eq!(pending.reference, "dentist");
    let tasks = [
        assistant::TaskSummary {
            id: Uuid::from_u128(1),
            title: "Dentist".into(),
            completed: false,
            due_date: None,
            tags: vec![],
        },
        assistant::TaskSummary {
            id: Uuid::from_u128(2),
            title: "Dentist bill".into(),
            completed: false,
            due_date: None,
            tags: vec![],
        },
    ];
    // An exact title wins over a longer one.
    assert_eq!(
        pending.resolve(&tasks, &context),
        Understood::Call(ToolCall::DeleteTask {
            task_id: Uuid::from_u128(1)
        })
    );
    let Understood::NeedsTasks(pending) = understand("delete dent", &context) else {
        panic!("a title reference needs the user's tasks");
    };
    let Understood::Ask(question) = pending.resolve(&tasks, &context) else {
        panic!("two tasks contain “dent”");
    };
    context.memory.after_question(&question);
    let stored = serde_json::to_string(&context.memory).unwrap();
    context.memory = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        understand("2", &context),
        Understood::Call(ToolCall::DeleteTask {
            task_id: Uuid::from_u128(2)
        })
    );
}
