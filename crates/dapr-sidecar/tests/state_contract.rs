//! Contract tests of the State API against daprd's source (dapr/dapr v1.16
//! `pkg/api/http/http.go`: `onGetState`, `onPostState`, `onDeleteState`, `onBulkGetState`,
//! `onPostStateTransaction`; `pkg/api/errors/state.go`; `pkg/messages/predefined.go`) and the
//! components-contrib `state/in-memory` store; docs/contracts.md ("Dapr components") lists what
//! the apps need of a state store.
//!
//! Every test runs twice: against the in-memory store and against the SQLite store
//! (`data_dir` set), which must behave the same.

macro_rules! state_contract_tests {
    () => {
const STATE: &str = "/v1.0/state/statestore";

async fn save(sidecar: &Sidecar, app: &str, body: &str) -> http::Response<bytes::Bytes> {
    send(sidecar, app, "POST", STATE, body).await
}

async fn get(sidecar: &Sidecar, app: &str, key: &str) -> http::Response<bytes::Bytes> {
    send(sidecar, app, "GET", &format!("{STATE}/{key}"), "").await
}

async fn etag_of(sidecar: &Sidecar, app: &str, key: &str) -> String {
    let response = get(sidecar, app, key).await;
    header(&response, "etag").expect("etag header").to_owned()
}

// ---- get / save ---------------------------------------------------------------------------

#[tokio::test]
async fn save_answers_204_empty() {
    let (sidecar, _) = sidecar();
    let response = save(&sidecar, "app", r#"[{"key":"k","value":{"a":1}}]"#).await;
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn get_answers_200_with_the_stored_json_and_an_etag() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":{"b":2,"a":"x"}}]"#).await;
    let response = get(&sidecar, "app", "k").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert!(header(&response, "etag").is_some_and(|e| !e.is_empty()));
    // daprd re-marshals the value with Go's encoding/json: compact, keys sorted.
    assert_eq!(text(&response), r#"{"a":"x","b":2}"#);
}

#[tokio::test]
async fn missing_key_answers_204_empty() {
    let (sidecar, _) = sidecar();
    let response = get(&sidecar, "app", "nothing-here").await;
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
    assert!(header(&response, "etag").is_none());
}

#[tokio::test]
async fn a_json_string_value_comes_back_as_a_json_string() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":"hello <b>"}]"#).await;
    let response = get(&sidecar, "app", "k").await;
    assert_eq!(text(&response), r#""hello \u003cb\u003e""#);
}

#[tokio::test]
async fn numbers_are_stored_as_go_float64_prints_them() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":[1.0, 2.50, 1e3]}]"#).await;
    assert_eq!(text(&get(&sidecar, "app", "k").await), "[1,2.5,1000]");
}

#[tokio::test]
async fn a_missing_value_is_stored_as_null() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k"}]"#).await;
    let response = get(&sidecar, "app", "k").await;
    assert_eq!(response.status(), 200);
    assert_eq!(text(&response), "null");
}

#[tokio::test]
async fn put_saves_like_post() {
    let (sidecar, _) = sidecar();
    let response = send(&sidecar, "app", "PUT", STATE, r#"[{"key":"k","value":1}]"#).await;
    assert_eq!(response.status(), 204);
    assert_eq!(text(&get(&sidecar, "app", "k").await), "1");
}

#[tokio::test]
async fn an_empty_save_array_answers_204() {
    let (sidecar, _) = sidecar();
    assert_eq!(save(&sidecar, "app", "[]").await.status(), 204);
}

#[tokio::test]
async fn save_without_key_answers_400_malformed_request() {
    let (sidecar, _) = sidecar();
    let response = save(&sidecar, "app", r#"[{"value":1}]"#).await;
    let message = assert_error(&response, 400, "ERR_MALFORMED_REQUEST");
    assert_eq!(message, r#""key" is a required field"#);
}

#[tokio::test]
async fn save_with_empty_key_answers_400_malformed_request() {
    let (sidecar, _) = sidecar();
    let response = save(&sidecar, "app", r#"[{"key":"","value":1}]"#).await;
    assert_error(&response, 400, "ERR_MALFORMED_REQUEST");
}

#[tokio::test]
async fn malformed_json_body_answers_400_malformed_request() {
    let (sidecar, _) = sidecar();
    assert_error(
        &save(&sidecar, "app", "[{").await,
        400,
        "ERR_MALFORMED_REQUEST",
    );
    assert_error(
        &save(&sidecar, "app", r#"{"key":"k"}"#).await,
        400,
        "ERR_MALFORMED_REQUEST",
    );
    assert_error(
        &save(&sidecar, "app", "").await,
        400,
        "ERR_MALFORMED_REQUEST",
    );
}

#[tokio::test]
async fn unknown_store_answers_400_state_store_not_found_on_every_state_route() {
    let (sidecar, _) = sidecar();
    let routes = [
        ("GET", "/v1.0/state/nope/k", ""),
        ("POST", "/v1.0/state/nope", r#"[{"key":"k","value":1}]"#),
        ("DELETE", "/v1.0/state/nope/k", ""),
        ("POST", "/v1.0/state/nope/bulk", r#"{"keys":["k"]}"#),
        (
            "POST",
            "/v1.0/state/nope/transaction",
            r#"{"operations":[]}"#,
        ),
    ];
    for (method, uri, body) in routes {
        let response = send(&sidecar, "app", method, uri, body).await;
        let message = assert_error(&response, 400, "ERR_STATE_STORE_NOT_FOUND");
        assert_eq!(message, "state store nope is not found", "{method} {uri}");
    }
}

#[tokio::test]
async fn key_containing_the_separator_answers_400_malformed_request() {
    let (sidecar, _) = sidecar();
    let routes = [
        ("GET", "/v1.0/state/statestore/a||b", ""),
        ("DELETE", "/v1.0/state/statestore/a||b", ""),
        ("POST", STATE, r#"[{"key":"a||b","value":1}]"#),
        (
            "POST",
            "/v1.0/state/statestore/bulk",
            r#"{"keys":["a||b"]}"#,
        ),
        (
            "POST",
            "/v1.0/state/statestore/transaction",
            r#"{"operations":[{"operation":"upsert","request":{"key":"a||b","value":1}}]}"#,
        ),
    ];
    for (method, uri, body) in routes {
        let response = send(&sidecar, "app", method, uri, body).await;
        let message = assert_error(&response, 400, "ERR_MALFORMED_REQUEST");
        assert_eq!(
            message, "input key/keyPrefix 'a||b' can't contain '||'",
            "{method} {uri}"
        );
        assert_eq!(
            json(&response)["details"][2]["reason"],
            "DAPR_STATE_ILLEGAL_KEY"
        );
    }
    assert!(sidecar.state_snapshot("statestore").is_empty());
}

#[tokio::test]
async fn a_percent_encoded_key_is_unescaped() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"a/b c","value":1}]"#).await;
    assert_eq!(get(&sidecar, "app", "a%2Fb+c").await.status(), 200);
}

#[tokio::test]
async fn a_key_with_a_bad_escape_answers_400_plain_text() {
    let (sidecar, _) = sidecar();
    let response = get(&sidecar, "app", "bad%zz").await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/plain; charset=utf-8")
    );
}

// ---- etags and concurrency ----------------------------------------------------------------

#[tokio::test]
async fn save_with_the_current_etag_answers_204_and_changes_the_etag() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let etag = etag_of(&sidecar, "app", "k").await;
    let body = json!([{"key": "k", "value": 2, "etag": etag}]).to_string();
    assert_eq!(save(&sidecar, "app", &body).await.status(), 204);
    assert_ne!(etag_of(&sidecar, "app", "k").await, etag);
    assert_eq!(text(&get(&sidecar, "app", "k").await), "2");
}

#[tokio::test]
async fn save_with_a_stale_etag_answers_409_state_save() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let stale = etag_of(&sidecar, "app", "k").await;
    save(&sidecar, "app", r#"[{"key":"k","value":2}]"#).await;
    let body = json!([{"key": "k", "value": 3, "etag": stale}]).to_string();
    let message = assert_error(&save(&sidecar, "app", &body).await, 409, "ERR_STATE_SAVE");
    assert!(
        message
            .starts_with("failed saving state in state store statestore: possible etag mismatch")
    );
    assert_eq!(text(&get(&sidecar, "app", "k").await), "2");
}

#[tokio::test]
async fn save_with_an_etag_for_a_missing_key_answers_409_state_save() {
    let (sidecar, _) = sidecar();
    let response = save(&sidecar, "app", r#"[{"key":"k","value":1,"etag":"1"}]"#).await;
    assert_error(&response, 409, "ERR_STATE_SAVE");
    assert_eq!(get(&sidecar, "app", "k").await.status(), 204);
}

#[tokio::test]
async fn save_with_a_malformed_etag_answers_400_state_save() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let response = save(
        &sidecar,
        "app",
        r#"[{"key":"k","value":2,"etag":"not-an-etag"}]"#,
    )
    .await;
    let message = assert_error(&response, 400, "ERR_STATE_SAVE");
    assert!(message.contains("invalid etag value"), "{message}");
}

#[tokio::test]
async fn first_write_without_etag_on_an_existing_key_answers_409() {
    let (sidecar, _) = sidecar();
    let first = r#"[{"key":"k","value":1,"options":{"concurrency":"first-write"}}]"#;
    assert_eq!(
        save(&sidecar, "app", first).await.status(),
        204,
        "new key: accepted"
    );
    let second = r#"[{"key":"k","value":2,"options":{"concurrency":"first-write"}}]"#;
    assert_error(&save(&sidecar, "app", second).await, 409, "ERR_STATE_SAVE");
    assert_eq!(text(&get(&sidecar, "app", "k").await), "1");
}

#[tokio::test]
async fn first_write_with_the_current_etag_answers_204() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let etag = etag_of(&sidecar, "app", "k").await;
    let body = json!([{"key":"k","value":2,"etag":etag,"options":{"concurrency":"first-write"}}]);
    assert_eq!(save(&sidecar, "app", &body.to_string()).await.status(), 204);
}

#[tokio::test]
async fn without_an_etag_the_last_write_wins() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let response = save(
        &sidecar,
        "app",
        r#"[{"key":"k","value":2,"options":{"concurrency":"last-write"}}]"#,
    )
    .await;
    assert_eq!(response.status(), 204);
    save(&sidecar, "app", r#"[{"key":"k","value":3}]"#).await;
    assert_eq!(text(&get(&sidecar, "app", "k").await), "3");
}

#[tokio::test]
async fn an_unknown_concurrency_answers_500_state_save() {
    let (sidecar, _) = sidecar();
    let response = save(
        &sidecar,
        "app",
        r#"[{"key":"k","value":1,"options":{"concurrency":"maybe"}}]"#,
    )
    .await;
    assert_error(&response, 500, "ERR_STATE_SAVE");
}

#[tokio::test]
async fn a_save_of_several_items_with_one_failing_saves_none() {
    let (sidecar, _) = sidecar();
    let body = r#"[{"key":"a","value":1},{"key":"b","value":2,"etag":"99"}]"#;
    assert_error(&save(&sidecar, "app", body).await, 409, "ERR_STATE_SAVE");
    assert!(sidecar.state_snapshot("statestore").is_empty());
}

// ---- delete --------------------------------------------------------------------------------

#[tokio::test]
async fn delete_answers_204_and_the_key_is_gone() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let response = send(&sidecar, "app", "DELETE", &format!("{STATE}/k"), "").await;
    assert_eq!(response.status(), 204);
    assert_eq!(get(&sidecar, "app", "k").await.status(), 204);
}

#[tokio::test]
async fn delete_of_a_missing_key_answers_204() {
    let (sidecar, _) = sidecar();
    let response = send(&sidecar, "app", "DELETE", &format!("{STATE}/nothing"), "").await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn delete_with_the_current_if_match_answers_204() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let etag = etag_of(&sidecar, "app", "k").await;
    let req = request_with("DELETE", &format!("{STATE}/k"), &[("if-match", &etag)], b"");
    assert_eq!(sidecar.handle("app", req).await.status(), 204);
    assert_eq!(get(&sidecar, "app", "k").await.status(), 204);
}

#[tokio::test]
async fn delete_with_a_stale_if_match_answers_409_state_delete() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let stale = etag_of(&sidecar, "app", "k").await;
    save(&sidecar, "app", r#"[{"key":"k","value":2}]"#).await;
    let req = request_with(
        "DELETE",
        &format!("{STATE}/k"),
        &[("if-match", &stale)],
        b"",
    );
    let response = sidecar.handle("app", req).await;
    let message = assert_error(&response, 409, "ERR_STATE_DELETE");
    assert!(message.starts_with("failed deleting state with key k: possible etag mismatch"));
    assert_eq!(get(&sidecar, "app", "k").await.status(), 200);
}

#[tokio::test]
async fn delete_with_a_malformed_if_match_answers_400_state_delete() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let req = request_with(
        "DELETE",
        &format!("{STATE}/k"),
        &[("if-match", "garbage")],
        b"",
    );
    assert_error(&sidecar.handle("app", req).await, 400, "ERR_STATE_DELETE");
}

// ---- bulk get ------------------------------------------------------------------------------

#[tokio::test]
async fn bulk_get_answers_200_in_request_order_and_a_missing_key_has_only_key() {
    let (sidecar, _) = sidecar();
    save(
        &sidecar,
        "app",
        r#"[{"key":"a","value":{"x":1}},{"key":"b","value":"two"}]"#,
    )
    .await;
    let etag_a = etag_of(&sidecar, "app", "a").await;
    let etag_b = etag_of(&sidecar, "app", "b").await;
    let response = send(
        &sidecar,
        "app",
        "POST",
        "/v1.0/state/statestore/bulk",
        r#"{"keys":["b","missing","a"],"parallelism":10}"#,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(
        json(&response),
        json!([
            {"key": "b", "data": "two", "etag": etag_b},
            {"key": "missing"},
            {"key": "a", "data": {"x": 1}, "etag": etag_a},
        ])
    );
}

#[tokio::test]
async fn bulk_get_without_keys_answers_an_empty_array() {
    let (sidecar, _) = sidecar();
    let response = send(
        &sidecar,
        "app",
        "POST",
        "/v1.0/state/statestore/bulk",
        r#"{"keys":[]}"#,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(text(&response), "[]\n");
}

#[tokio::test]
async fn bulk_get_with_a_malformed_body_answers_400_malformed_request() {
    let (sidecar, _) = sidecar();
    let response = send(
        &sidecar,
        "app",
        "POST",
        "/v1.0/state/statestore/bulk",
        "{keys",
    )
    .await;
    let message = assert_error(&response, 400, "ERR_MALFORMED_REQUEST");
    assert!(message.starts_with("failed deserializing HTTP body: "));
}

// ---- transactions --------------------------------------------------------------------------

const TX: &str = "/v1.0/state/statestore/transaction";

#[tokio::test]
async fn transaction_applies_upserts_and_deletes_and_answers_204() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"old","value":1}]"#).await;
    let body = r#"{"operations":[
        {"operation":"upsert","request":{"key":"new","value":{"n":2}}},
        {"operation":"delete","request":{"key":"old"}}
    ]}"#;
    let response = send(&sidecar, "app", "POST", TX, body).await;
    assert_eq!(response.status(), 204);
    assert_eq!(text(&get(&sidecar, "app", "new").await), r#"{"n":2}"#);
    assert_eq!(get(&sidecar, "app", "old").await.status(), 204);
}

#[tokio::test]
async fn etag_mismatch_inside_a_transaction_answers_500_err_state_transaction() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"guarded","value":1}]"#).await;
    let before = sidecar.state_snapshot("statestore");
    let body = r#"{"operations":[
        {"operation":"upsert","request":{"key":"other","value":1}},
        {"operation":"upsert","request":{"key":"guarded","value":2,"etag":"12345"}}
    ]}"#;
    let response = send(&sidecar, "app", "POST", TX, body).await;
    let message = assert_error(&response, 500, "ERR_STATE_TRANSACTION");
    assert!(message.starts_with("error while executing state transaction: possible etag mismatch"));
    assert_eq!(
        sidecar.state_snapshot("statestore"),
        before,
        "all or nothing"
    );
}

#[tokio::test]
async fn a_malformed_etag_inside_a_transaction_answers_500_too() {
    let (sidecar, _) = sidecar();
    let body = r#"{"operations":[{"operation":"delete","request":{"key":"k","etag":"x"}}]}"#;
    assert_error(
        &send(&sidecar, "app", "POST", TX, body).await,
        500,
        "ERR_STATE_TRANSACTION",
    );
}

// ---- Go's JSON decoding --------------------------------------------------------------------
// daprd reads every body with Go's encoding/json (a transaction operation's `request` then with
// mapstructure, which matches names the same way): field names match exactly or else
// case-insensitively, unknown fields are ignored, the last duplicate key wins, and `null` leaves
// a string or struct as it was and makes an interface, map or pointer nil.

/// `onPostState` decodes `[]state.SetRequest`: `Key string json:"key"`, `Value any
/// json:"value"`, `ETag *string json:"etag,omitempty"`, `Metadata map[string]string
/// json:"metadata,omitempty"`, `Options SetStateOption json:"options,omitempty"` with
/// `Concurrency string json:"concurrency,omitempty"`, `Consistency string json:"consistency"`.
#[tokio::test]
async fn save_items_are_decoded_by_gos_rules() {
    let (sidecar, _) = sidecar();
    let body = r#"[{"KEY":"k","Value":{"a":1},"Metadata":{"ttlInSeconds":"-1"},"unknown":true},
                   {"key":"n","key":null,"value":1,"VALUE":null}]"#;
    assert_eq!(save(&sidecar, "app", body).await.status(), 204);
    assert_eq!(text(&get(&sidecar, "app", "k").await), r#"{"a":1}"#);
    assert_eq!(text(&get(&sidecar, "app", "n").await), "null", "the later null wins");
    // `OPTIONS.Concurrency` is read: first-write without an etag on an existing key fails.
    let first_write = r#"[{"Key":"k","value":2,"OPTIONS":{"Concurrency":"first-write"}}]"#;
    assert_error(&save(&sidecar, "app", first_write).await, 409, "ERR_STATE_SAVE");
    let etag = etag_of(&sidecar, "app", "k").await;
    let with_etag = format!(r#"[{{"key":"k","value":3,"ETag":"{etag}"}}]"#);
    assert_eq!(save(&sidecar, "app", &with_etag).await.status(), 204);
    assert_eq!(text(&get(&sidecar, "app", "k").await), "3");
}

/// `onBulkGetState` decodes `BulkGetRequest`: `Metadata map[string]string json:"metadata"`,
/// `Keys []string json:"keys"`, `Parallelism int json:"parallelism"`.
#[tokio::test]
async fn bulk_get_requests_are_decoded_by_gos_rules() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"a","value":1}]"#).await;
    let response = send(
        &sidecar,
        "app",
        "POST",
        &format!("{STATE}/bulk"),
        r#"{"KEYS":["x"],"Keys":["a","b"],"Parallelism":null,"METADATA":{},"other":[]}"#,
    )
    .await;
    assert_eq!(response.status(), 200, "{}", text(&response));
    let items = json(&response);
    let keys: Vec<_> = items
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["a", "b"], "the later Keys wins");
    assert_eq!(items[0]["data"], 1);
}

/// `onPostStateTransaction` decodes `stateTransactionRequestBody`: `Operations
/// []stateTransactionRequestBodyOperation json:"operations"` (`Operation string
/// json:"operation"`, `Request interface{} json:"request"`), `Metadata map[string]string
/// json:"metadata,omitempty"`; each `request` becomes a `state.SetRequest` or
/// `state.DeleteRequest` (`Key`, `ETag`, `Metadata`, `Options`) through mapstructure.
#[tokio::test]
async fn transactions_are_decoded_by_gos_rules() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"gone","value":1}]"#).await;
    let body = r#"{"OPERATIONS":[
        {"Operation":"upsert","REQUEST":{"KEY":"t","Value":{"n":5},"ETag":null,"extra":1}},
        {"operation":"delete","Request":{"Key":"gone","Options":{"CONCURRENCY":"last-write"}}}
      ],"Metadata":null}"#;
    let response = send(&sidecar, "app", "POST", &format!("{STATE}/transaction"), body).await;
    assert_eq!(response.status(), 204, "{}", text(&response));
    assert_eq!(text(&get(&sidecar, "app", "t").await), r#"{"n":5}"#);
    assert_eq!(get(&sidecar, "app", "gone").await.status(), 204);
}

#[tokio::test]
async fn an_empty_transaction_answers_204() {
    let (sidecar, _) = sidecar();
    assert_eq!(
        send(&sidecar, "app", "POST", TX, r#"{"operations":[]}"#)
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn an_unknown_transaction_operation_answers_400_not_supported() {
    let (sidecar, _) = sidecar();
    let body = r#"{"operations":[{"operation":"merge","request":{"key":"k"}}]}"#;
    let response = send(&sidecar, "app", "POST", TX, body).await;
    let message = assert_error(&response, 400, "ERR_NOT_SUPPORTED_STATE_OPERATION");
    assert_eq!(message, "operation type merge not supported");
}

#[tokio::test]
async fn a_malformed_transaction_body_answers_400_malformed_request() {
    let (sidecar, _) = sidecar();
    assert_error(
        &send(&sidecar, "app", "POST", TX, "nope").await,
        400,
        "ERR_MALFORMED_REQUEST",
    );
    let bad_request = r#"{"operations":[{"operation":"upsert","request":{"key":7}}]}"#;
    assert_error(
        &send(&sidecar, "app", "POST", TX, bad_request).await,
        400,
        "ERR_MALFORMED_REQUEST",
    );
}

// ---- TTL -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_value_with_a_ttl_disappears_when_the_clock_passes_it() {
    let (sidecar, clock) = sidecar();
    let body = r#"[{"key":"k","value":1,"metadata":{"ttlInSeconds":"10"}}]"#;
    assert_eq!(save(&sidecar, "app", body).await.status(), 204);
    let response = get(&sidecar, "app", "k").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "metadata.ttlExpireTime"),
        Some("2026-01-01T00:00:10Z")
    );
    clock.advance(Duration::seconds(10));
    assert_eq!(
        get(&sidecar, "app", "k").await.status(),
        200,
        "still there at the deadline"
    );
    clock.advance(Duration::seconds(1));
    assert_eq!(get(&sidecar, "app", "k").await.status(), 204);
    let bulk = send(
        &sidecar,
        "app",
        "POST",
        "/v1.0/state/statestore/bulk",
        r#"{"keys":["k"]}"#,
    )
    .await;
    assert_eq!(json(&bulk), json!([{"key": "k"}]));
    assert!(sidecar.state_snapshot("statestore").is_empty());
}

#[tokio::test]
async fn ttl_can_come_from_query_metadata() {
    let (sidecar, clock) = sidecar();
    let uri = format!("{STATE}?metadata.ttlInSeconds=5");
    send(&sidecar, "app", "POST", &uri, r#"[{"key":"k","value":1}]"#).await;
    clock.advance(Duration::seconds(6));
    assert_eq!(get(&sidecar, "app", "k").await.status(), 204);
}

#[tokio::test]
async fn a_ttl_of_minus_one_never_expires() {
    let (sidecar, clock) = sidecar();
    save(
        &sidecar,
        "app",
        r#"[{"key":"k","value":1,"metadata":{"ttlInSeconds":"-1"}}]"#,
    )
    .await;
    clock.advance(Duration::days(3650));
    let response = get(&sidecar, "app", "k").await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "metadata.ttlExpireTime").is_none());
}

#[tokio::test]
async fn an_expired_key_counts_as_missing_for_etags() {
    let (sidecar, clock) = sidecar();
    save(
        &sidecar,
        "app",
        r#"[{"key":"k","value":1,"metadata":{"ttlInSeconds":"1"}}]"#,
    )
    .await;
    let etag = etag_of(&sidecar, "app", "k").await;
    clock.advance(Duration::seconds(2));
    let body = json!([{"key":"k","value":2,"etag":etag}]).to_string();
    assert_error(&save(&sidecar, "app", &body).await, 409, "ERR_STATE_SAVE");
}

#[tokio::test]
async fn a_ttl_that_is_not_a_number_answers_500_state_save() {
    let (sidecar, _) = sidecar();
    let body = r#"[{"key":"k","value":1,"metadata":{"ttlInSeconds":"soon"}}]"#;
    assert_error(&save(&sidecar, "app", body).await, 500, "ERR_STATE_SAVE");
}

#[tokio::test]
async fn a_transaction_upsert_can_carry_a_ttl() {
    let (sidecar, clock) = sidecar();
    let body = r#"{"operations":[{"operation":"upsert","request":{"key":"k","value":1,"metadata":{"ttlInSeconds":"3"}}}]}"#;
    assert_eq!(send(&sidecar, "app", "POST", TX, body).await.status(), 204);
    clock.advance(Duration::seconds(4));
    assert_eq!(get(&sidecar, "app", "k").await.status(), 204);
}

// ---- key prefixes --------------------------------------------------------------------------

#[tokio::test]
async fn two_app_ids_do_not_see_each_others_keys() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "alice", r#"[{"key":"k","value":"alice's"}]"#).await;
    save(&sidecar, "bob", r#"[{"key":"k","value":"bob's"}]"#).await;
    assert_eq!(text(&get(&sidecar, "alice", "k").await), r#""alice's""#);
    assert_eq!(text(&get(&sidecar, "bob", "k").await), r#""bob's""#);
    assert_eq!(get(&sidecar, "carol", "k").await.status(), 204);
    let keys: Vec<_> = sidecar.state_snapshot("statestore").into_keys().collect();
    assert_eq!(keys, ["alice||k", "bob||k"]);
}

#[tokio::test]
async fn stores_with_key_prefix_name_or_none_share_keys_between_apps() {
    let config = SidecarConfig {
        state_stores: vec![
            StateStoreConfig {
                name: "shared".into(),
                key_prefix: KeyPrefix::Name,
            },
            StateStoreConfig {
                name: "raw".into(),
                key_prefix: KeyPrefix::None,
            },
            StateStoreConfig {
                name: "ns".into(),
                key_prefix: KeyPrefix::Namespace("prod".into()),
            },
        ],
        ..SidecarConfig::default()
    };
    let sidecar = build(config);
    for store in ["shared", "raw", "ns"] {
        let uri = format!("/v1.0/state/{store}");
        send(
            &sidecar,
            "alice",
            "POST",
            &uri,
            r#"[{"key":"k","value":1}]"#,
        )
        .await;
    }
    assert_eq!(
        send(&sidecar, "bob", "GET", "/v1.0/state/shared/k", "")
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&sidecar, "bob", "GET", "/v1.0/state/raw/k", "")
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&sidecar, "bob", "GET", "/v1.0/state/ns/k", "")
            .await
            .status(),
        204
    );
    assert!(sidecar.state_snapshot("shared").contains_key("shared||k"));
    assert!(sidecar.state_snapshot("raw").contains_key("k"));
    assert!(sidecar.state_snapshot("ns").contains_key("prod.alice||k"));
}

// ---- injected failures ---------------------------------------------------------------------

#[tokio::test]
async fn a_failed_state_write_answers_500_with_daprds_code_and_changes_nothing() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"k","value":1}]"#).await;
    let before = sidecar.state_snapshot("statestore");
    sidecar.faults().fail_next_state_writes(3);
    let save_response = save(&sidecar, "app", r#"[{"key":"k","value":2}]"#).await;
    assert_error(&save_response, 500, "ERR_STATE_SAVE");
    let delete_response = send(&sidecar, "app", "DELETE", &format!("{STATE}/k"), "").await;
    assert_error(&delete_response, 500, "ERR_STATE_DELETE");
    let tx = r#"{"operations":[{"operation":"delete","request":{"key":"k"}}]}"#;
    assert_error(
        &send(&sidecar, "app", "POST", TX, tx).await,
        500,
        "ERR_STATE_TRANSACTION",
    );
    assert_eq!(sidecar.state_snapshot("statestore"), before);
    assert_eq!(
        save(&sidecar, "app", r#"[{"key":"k","value":2}]"#)
            .await
            .status(),
        204,
        "faults used up"
    );
}

// ---- routing -------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_route_answers_404_err_direct_invoke() {
    let (sidecar, _) = sidecar();
    for (method, uri) in [
        ("GET", "/v1.0/nothing"),
        ("GET", "/v1.0/state/statestore"),
        ("POST", "/v1.0/state/statestore/k"),
        ("GET", "/v1.0/state/statestore/"),
    ] {
        let response = send(&sidecar, "app", method, uri, "").await;
        let message = assert_error(&response, 404, "ERR_DIRECT_INVOKE");
        assert_eq!(
            message, "failed getting app id either from the URL path or the header dapr-app-id",
            "{method} {uri}"
        );
    }
}

#[tokio::test]
async fn get_of_a_key_named_bulk_reads_that_key() {
    let (sidecar, _) = sidecar();
    save(&sidecar, "app", r#"[{"key":"bulk","value":1}]"#).await;
    assert_eq!(get(&sidecar, "app", "bulk").await.status(), 200);
}
    };
}

mod in_memory {
    use chrono::Duration;
    use dapr_sidecar::testing::*;
    use dapr_sidecar::{KeyPrefix, Sidecar, SidecarConfig, StateStoreConfig};
    use serde_json::json;

    fn build(config: SidecarConfig) -> Sidecar {
        Sidecar::new(config)
    }

    state_contract_tests!();
}

mod sqlite {
    use chrono::Duration;
    use dapr_sidecar::testing::{
        assert_error, data_dir, header, json, request_with, send, start_clock, text,
    };
    use dapr_sidecar::{KeyPrefix, ManualClock, Sidecar, SidecarConfig, StateStoreConfig};
    use serde_json::json;
    use std::sync::Arc;

    fn build(config: SidecarConfig) -> Sidecar {
        Sidecar::new(SidecarConfig {
            data_dir: Some(data_dir()),
            ..config
        })
    }

    fn sidecar() -> (Sidecar, ManualClock) {
        let clock = start_clock();
        let sidecar = build(SidecarConfig {
            clock: Arc::new(clock.clone()),
            ..SidecarConfig::default()
        });
        (sidecar, clock)
    }

    state_contract_tests!();
}
