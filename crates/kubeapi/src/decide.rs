//! The decisions of the API step, without any I/O: is the live object
//! already what we apply, what an answer's status means, which objects
//! are ours to prune, and the URLs of the requests.

use serde_json::Value;

/// The field manager that owns what first boot applies; pruning trusts
/// only this name in managedFields (no ownership labels exist).
pub const FIELD_MANAGER: &str = "mk-firstboot";

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist (PATCH answered 201).
    Created,
    /// It existed and differed (PATCH answered 200).
    Configured,
    /// Every field we apply was already live and we own no field we no
    /// longer apply ([`stale`]): nothing was sent.
    Unchanged,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// Whether every field of `want` is in `live` with the same value: maps by
/// key (extra live keys, such as server defaults and metadata the
/// apiserver adds, do not count), lists element by element with equal
/// length, scalars equal (numbers by value, so `1` and `1.0` agree).
pub fn is_subset(want: &Value, live: &Value) -> bool {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => w
            .iter()
            .all(|(k, wv)| l.get(k).is_some_and(|lv| is_subset(wv, lv))),
        (Value::Array(w), Value::Array(l)) => {
            w.len() == l.len() && w.iter().zip(l).all(|(wv, lv)| is_subset(wv, lv))
        }
        (Value::Number(w), Value::Number(l)) => {
            w == l || matches!((w.as_f64(), l.as_f64()), (Some(a), Some(b)) if a == b)
        }
        _ => want == live,
    }
}

/// Why a live object is not what we apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// A field we apply is missing from the live object or has another
    /// value ([`is_subset`] is false).
    Differs,
    /// Our manager's `Apply` entry in `metadata.managedFields` owns a field
    /// the object we apply no longer has (given as a path such as
    /// `.data.old` or `.spec.template.spec.containers[name="c"].env[name="X"]`):
    /// server-side apply removes it (unless another manager owns it too),
    /// a skipped apply would leave it live for good.
    Drops(String),
    /// Our `Apply` entry could not be read (not FieldsV1, or a path element
    /// of an unknown form): ownership unknown, so the apply is sent.
    Unreadable(String),
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Differs => f.write_str("a field we apply differs"),
            Stale::Drops(path) => write!(
                f,
                "{FIELD_MANAGER} applied {path} before and no longer does"
            ),
            Stale::Unreadable(why) => write!(f, "managedFields of {FIELD_MANAGER}: {why}"),
        }
    }
}

/// Whether `live` (the object as the apiserver answered a GET) needs the
/// server-side apply of `want`; `None` when the apply would change nothing,
/// so none is sent.
///
/// Two checks: every field of `want` is live with the same value
/// ([`is_subset`]), and every field our manager owns by an earlier apply
/// (its `Apply` entries in `metadata.managedFields`, [`dropped_field`]) is
/// still in `want`. Fields other managers set are extras that count for
/// neither: they are not ours to put back or remove.
pub fn stale(want: &Value, live: &Value) -> Option<Stale> {
    if !is_subset(want, live) {
        return Some(Stale::Differs);
    }
    match dropped_field(want, live) {
        Ok(None) => None,
        Ok(Some(path)) => Some(Stale::Drops(path)),
        Err(why) => Some(Stale::Unreadable(why)),
    }
}

/// The first field that our manager's `Apply` entries in `live`'s
/// `metadata.managedFields` own and that `want` no longer has, as a path;
/// `Err` when an entry cannot be read.
///
/// The paths are read from the FieldsV1 trees themselves, element by
/// element against `want`: `f:<name>` is the key of a map, `k:{json}` the
/// item of an associative list whose merge keys have those values (the
/// apiserver writes the keys it merges by: `name` for containers, volumes
/// and env, `mountPath` for volumeMounts, `containerPort` and `protocol`
/// for container ports, ...), `v:<json>` an item of a set, `i:<n>` the
/// n-th item of a list, `.` the node itself. A list our manager owns as a
/// whole (atomic: args, command, tolerations, rules, subjects) is one leaf
/// `f:<name>`, and a change inside it is [`is_subset`]'s to see. So no
/// table of list types is needed here, and none can be out of date: a list
/// whose items the apiserver keys by something `want` does not have is a
/// dropped item, and the apply is sent.
///
/// `Update` entries, even by a client using our manager's name, and
/// entries for a subresource (`status`, which we never apply) do not
/// count: a server-side apply releases only what the applier's own `Apply`
/// entry holds.
pub fn dropped_field(want: &Value, live: &Value) -> Result<Option<String>, String> {
    let Some(entries) = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Ok(None);
    };
    for entry in entries {
        let ours = entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply")
            && entry
                .get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
        if !ours {
            continue;
        }
        let fields_type = entry.get("fieldsType").and_then(Value::as_str);
        if fields_type != Some("FieldsV1") {
            return Err(format!(
                "fieldsType {}, expected FieldsV1",
                fields_type.map_or("missing".to_string(), |t| format!("{t:?}"))
            ));
        }
        let Some(fields) = entry.get("fieldsV1").and_then(Value::as_object) else {
            return Err("fieldsV1 is not an object".to_string());
        };
        let mut path = Vec::new();
        if first_missing(fields, want, &mut path)? {
            return Ok(Some(render_path(&path)));
        }
    }
    Ok(None)
}

/// Walks the FieldsV1 node `owned` against `want` (the value at the same
/// place in the object we apply): whether `want` lacks an owned path, left
/// in `path` (the FieldsV1 elements from the root) if so.
fn first_missing<'a>(
    owned: &'a serde_json::Map<String, Value>,
    want: &Value,
    path: &mut Vec<&'a str>,
) -> Result<bool, String> {
    for (element, child) in owned {
        if element == "." {
            continue;
        }
        path.push(element);
        let unreadable = |why: String| format!("{}: {element:?}: {why}", render_path(path));
        let Some(child) = child.as_object() else {
            return Err(unreadable("not an object in fieldsV1".into()));
        };
        let found: Option<&Value> = if let Some(name) = element.strip_prefix("f:") {
            want.get(name)
        } else if let Some(keys) = element.strip_prefix("k:") {
            let keys: serde_json::Map<String, Value> = serde_json::from_str(keys)
                .map_err(|e| unreadable(format!("not a JSON object: {e}")))?;
            want.as_array()
                .and_then(|items| items.iter().find(|item| has_keys(item, &keys)))
        } else if let Some(value) = element.strip_prefix("v:") {
            let value: Value =
                serde_json::from_str(value).map_err(|e| unreadable(format!("not JSON: {e}")))?;
            want.as_array()
                .and_then(|items| items.iter().find(|item| same_value(item, &value)))
        } else if let Some(index) = element.strip_prefix("i:") {
            let index: usize = index
                .parse()
                .map_err(|e| unreadable(format!("not an index: {e}")))?;
            want.as_array().and_then(|items| items.get(index))
        } else {
            return Err(unreadable("unknown fieldsV1 path element".into()));
        };
        let Some(found) = found else {
            return Ok(true);
        };
        if first_missing(child, found, path)? {
            return Ok(true);
        }
        path.pop();
    }
    Ok(false)
}

/// FieldsV1 path elements as one readable path:
/// `.spec.containers[name="c"].ports[containerPort=53,protocol="UDP"]`,
/// `.metadata.finalizers[="x"]`, `.spec.list[1]`.
fn render_path(path: &[&str]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(keys) = element.strip_prefix("k:") {
            match serde_json::from_str::<serde_json::Map<String, Value>>(keys) {
                Ok(keys) => {
                    let keys: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push_str(&format!("[{}]", keys.join(",")));
                }
                Err(_) => out.push_str(&format!("[{keys}]")),
            }
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        } else if let Some(index) = element.strip_prefix("i:") {
            out.push_str(&format!("[{index}]"));
        } else {
            out.push_str(&format!("[{element}]"));
        }
    }
    out
}

/// Whether a list item has the merge-key values of a `k:` element. A key
/// the item leaves out matches the value the apiserver defaults it to
/// (`protocol` of ports: `TCP`), as server-side apply merges such items.
fn has_keys(item: &Value, keys: &serde_json::Map<String, Value>) -> bool {
    keys.iter().all(|(k, v)| match item.get(k) {
        Some(have) => same_value(have, v),
        None => k == "protocol" && v == "TCP",
    })
}

/// JSON equality with numbers compared by value (`1` and `1.0` agree).
fn same_value(a: &Value, b: &Value) -> bool {
    is_subset(a, b) && is_subset(b, a)
}

/// The outcome of a server-side apply PATCH from its HTTP status: the
/// apiserver answers 201 when the PATCH created the object, 200 otherwise.
pub fn apply_outcome(status: u16) -> Option<Outcome> {
    match status {
        201 => Some(Outcome::Created),
        200 => Some(Outcome::Configured),
        _ => None,
    }
}

/// Whether mk-firstboot applied fields of this object: an entry of
/// `metadata.managedFields` with manager `mk-firstboot` and operation
/// `Apply`. An `Update` by a client that happens to use the same name
/// (kubectl edit --field-manager) does not make an object ours.
pub fn owned_by_us(object: &Value) -> bool {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        })
}

/// The `metadata.name` of each item of a list answer, with the item.
pub fn list_items(list: &Value) -> Vec<(&str, &Value)> {
    list.get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| Some((i.pointer("/metadata/name")?.as_str()?, i)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a Node carries `kubernetes.io/hostname`, which the kubelet sets
/// when it registers (kubeadm waits for the same label).
pub fn node_registered(node: &Value) -> bool {
    node.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|l| l.contains_key("kubernetes.io/hostname"))
}

/// The query of a server-side apply, exactly as `kubectl apply
/// --server-side --field-manager=mk-firstboot` sends it. `force=false`: a
/// conflict with another manager is an error to report, not to override.
pub fn apply_query() -> String {
    format!("fieldManager={FIELD_MANAGER}&fieldValidation=Strict&force=false")
}

/// `path?query` of a server-side apply PATCH.
pub fn apply_url(object_path: &str) -> String {
    format!("{object_path}?{}", apply_query())
}

/// The collection path of a resource (`/api/v1/namespaces/kube-system/secrets`).
pub fn collection_path(api_version: &str, plural: &str, namespace: Option<&str>) -> String {
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

/// `path` with an optional `fieldSelector`, percent-encoded.
pub fn list_url(collection: &str, field_selector: Option<&str>) -> String {
    match field_selector {
        Some(sel) => format!("{collection}?fieldSelector={}", encode_query_value(sel)),
        None => collection.to_string(),
    }
}

/// Percent-encodes a query value: RFC 3986 unreserved characters stay,
/// everything else (`=`, `/`, `,`, `&`, non-ASCII) becomes `%XX`.
pub fn encode_query_value(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, UNRESERVED_ONLY).to_string()
}

/// Everything but RFC 3986's unreserved characters is encoded.
const UNRESERVED_ONLY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A name is used as one URL path segment: it must not be able to leave it.
pub fn valid_path_segment(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'%') || b.is_ascii_whitespace() || b < 0x20)
}

/// What an error answer says: a `Status` object's message (with its reason),
/// else the start of the body as text.
pub fn answer_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            let message = v.get("message").and_then(Value::as_str).unwrap_or("");
            let reason = v.get("reason").and_then(Value::as_str).unwrap_or("");
            return match (message.is_empty(), reason.is_empty()) {
                (false, false) => format!("{message} (reason {reason})"),
                (false, true) => message.to_string(),
                (true, false) => format!("reason {reason}"),
                (true, true) => "a Status without message".to_string(),
            };
        }
    }
    snippet(body)
}

/// The start of a body as one line of text, for messages.
pub fn snippet(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "an empty body".to_string();
    }
    match one_line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", &one_line[..i]),
        None => format!("{one_line:?}"),
    }
}

/// Where CertificateSigningRequests live (cluster-scoped).
pub const CSR_COLLECTION: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/// The condition types that end a CSR's review: approved or denied by
/// someone, or failed by the signer. None of them may get another.
pub const CSR_FINAL_CONDITIONS: [&str; 3] = ["Approved", "Denied", "Failed"];
/// The message of our approval condition (kubectl's says "This CSR was
/// approved by kubectl certificate approve.").
pub const APPROVAL_MESSAGE: &str = "This CSR was approved by mk-firstboot approve-csrs.";

/// The first condition of `status.conditions` that ends a CSR's review
/// ([`CSR_FINAL_CONDITIONS`]); `None` for a pending CSR.
pub fn csr_decided(csr: &Value) -> Option<&str> {
    csr.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|c| c.get("type").and_then(Value::as_str))
        .find(|t| CSR_FINAL_CONDITIONS.contains(t))
}

/// The body of `PUT .../certificatesigningrequests/<name>/approval`, as
/// `kubectl certificate approve` sends it (calls/f2, call 3): the live
/// object, `resourceVersion` included (so a concurrent change answers 409),
/// with one condition appended. A list's items lack kind and apiVersion;
/// they are put back as kubectl has them from its GET.
pub fn approval_body(live: &Value, reason: &str, now_rfc3339: &str) -> Value {
    let mut body = live.clone();
    if let Some(o) = body.as_object_mut() {
        o.entry("kind")
            .or_insert_with(|| Value::from("CertificateSigningRequest"));
        o.entry("apiVersion")
            .or_insert_with(|| Value::from("certificates.k8s.io/v1"));
        let status = o
            .entry("status")
            .or_insert_with(|| Value::Object(Default::default()));
        if !status.is_object() {
            *status = Value::Object(Default::default());
        }
        let conditions = status
            .as_object_mut()
            .expect("made an object above")
            .entry("conditions")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !conditions.is_array() {
            *conditions = Value::Array(Vec::new());
        }
        conditions
            .as_array_mut()
            .expect("made an array above")
            .push(serde_json::json!({
                "type": "Approved",
                "status": "True",
                "reason": reason,
                "message": APPROVAL_MESSAGE,
                "lastUpdateTime": now_rfc3339,
                // kubectl leaves it to the apiserver, which sets it.
                "lastTransitionTime": null,
            }));
    }
    body
}

/// What to do after the approval PUT answered 409, given the CSR as
/// reviewed and as read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterConflict {
    /// Still the same pending request: approve this fresh copy.
    Retry,
    /// Someone else approved it meanwhile: nothing left to do.
    AlreadyApproved,
    /// Not the request that was reviewed any more, or decided otherwise.
    GiveUp(String),
}

/// A 409 means the CSR changed since it was read. Approve the fresh copy
/// only if it is still the request that was reviewed (same uid and spec;
/// a deleted and recreated CSR of the same name is a new request) and
/// still pending.
pub fn after_conflict(reviewed: &Value, fresh: &Value) -> AfterConflict {
    let uid = |v: &Value| {
        v.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if uid(reviewed) != uid(fresh) {
        return AfterConflict::GiveUp(format!(
            "it was deleted and made again meanwhile (uid {:?}, now {:?}): not the request that \
             was reviewed",
            uid(reviewed),
            uid(fresh)
        ));
    }
    if reviewed.get("spec") != fresh.get("spec") {
        return AfterConflict::GiveUp(
            "its spec changed meanwhile: not the request that was reviewed".into(),
        );
    }
    match csr_decided(fresh) {
        None => AfterConflict::Retry,
        Some("Approved") => AfterConflict::AlreadyApproved,
        Some(other) => AfterConflict::GiveUp(format!(
            "it is {other} now (condition set by someone else meanwhile)"
        )),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time, as the apiserver writes times.
pub fn rfc3339_utc(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The live object of e1-ssa-configmap-first (a real apiserver's answer).
    fn e1_live() -> Value {
        json!({
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {
                "name": "mk-firstboot-demo", "namespace": "default",
                "uid": "22979e99-6120-4af7-aa41-c57060d7723e", "resourceVersion": "474",
                "creationTimestamp": "2026-12-06T22:44:32Z",
                "managedFields": [{
                    "manager": "mk-firstboot", "operation": "Apply", "apiVersion": "v1",
                    "time": "2026-12-06T22:44:32Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:greeting": {}}}
                }]
            },
            "data": {"greeting": "hello"}
        })
    }

    fn e1_sent() -> Value {
        json!({
            "apiVersion": "v1", "data": {"greeting": "hello"}, "kind": "ConfigMap",
            "metadata": {"name": "mk-firstboot-demo", "namespace": "default"}
        })
    }

    #[test]
    fn what_the_apiserver_adds_is_not_a_difference() {
        assert!(is_subset(&e1_sent(), &e1_live()));
    }

    #[test]
    fn a_changed_missing_or_extra_field_is_a_difference() {
        let mut changed = e1_sent();
        changed["data"]["greeting"] = json!("bye");
        assert!(!is_subset(&changed, &e1_live()));
        let mut added = e1_sent();
        added["data"]["other"] = json!("x");
        assert!(!is_subset(&added, &e1_live()));
        let mut labelled = e1_sent();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        assert!(!is_subset(&labelled, &e1_live()));
    }

    #[test]
    fn lists_compare_element_by_element_with_equal_length() {
        let live = json!({"rules": [{"verbs": ["get"], "x": 1}, {"verbs": ["list"]}]});
        assert!(is_subset(
            &json!({"rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]}),
            &live
        ));
        // One fewer element: the apply would remove one, so it differs.
        assert!(!is_subset(&json!({"rules": [{"verbs": ["get"]}]}), &live));
        // Same elements, other order: a list's order is part of its value.
        assert!(!is_subset(
            &json!({"rules": [{"verbs": ["list"]}, {"verbs": ["get"]}]}),
            &live
        ));
        assert!(!is_subset(
            &json!({"rules": [{"verbs": ["get", "watch"]}, {"verbs": ["list"]}]}),
            &live
        ));
    }

    #[test]
    fn scalars_must_be_equal_and_of_the_same_type() {
        assert!(is_subset(&json!({"n": 1}), &json!({"n": 1.0})));
        assert!(!is_subset(&json!({"n": 1}), &json!({"n": "1"})));
        assert!(!is_subset(&json!({"b": false}), &json!({})));
        assert!(!is_subset(&json!({"s": ""}), &json!({"s": null})));
        assert!(!is_subset(&json!({"m": {}}), &json!({"m": []})));
        assert!(is_subset(
            &json!({"m": {}}),
            &json!({"m": {"server": "default"}})
        ));
    }

    /// `live` with one more managedFields entry.
    fn with_entry(mut live: Value, entry: Value) -> Value {
        live["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(entry);
        live
    }

    fn entry(manager: &str, operation: &str, fields: Value) -> Value {
        json!({
            "manager": manager, "operation": operation, "apiVersion": "v1",
            "time": "2026-12-06T22:44:32Z", "fieldsType": "FieldsV1", "fieldsV1": fields
        })
    }

    #[test]
    fn e1s_object_is_up_to_date() {
        assert_eq!(dropped_field(&e1_sent(), &e1_live()), Ok(None));
        assert_eq!(stale(&e1_sent(), &e1_live()), None);
        let mut changed = e1_sent();
        changed["data"]["greeting"] = json!("bye");
        assert_eq!(stale(&changed, &e1_live()), Some(Stale::Differs));
    }

    #[test]
    fn a_data_key_we_applied_and_no_longer_send_is_a_difference() {
        // We applied two keys; the new config has one. The subset compare
        // alone calls it equal.
        let mut live = e1_live();
        live["data"]["farewell"] = json!("bye");
        live["metadata"]["managedFields"][0]["fieldsV1"] =
            json!({"f:data": {"f:greeting": {}, "f:farewell": {}}});
        assert!(is_subset(&e1_sent(), &live));
        assert_eq!(
            stale(&e1_sent(), &live),
            Some(Stale::Drops(".data.farewell".into()))
        );
        // All of data dropped: the path stops at data.
        let mut no_data = e1_sent();
        no_data.as_object_mut().unwrap().remove("data");
        assert_eq!(
            dropped_field(&no_data, &live),
            Ok(Some(".data".to_string()))
        );
        assert_eq!(
            Stale::Drops(".data.farewell".into()).to_string(),
            "mk-firstboot applied .data.farewell before and no longer does"
        );
    }

    #[test]
    fn fields_of_other_managers_are_left_alone() {
        // kubectl label / edit added a label and a data key we never set.
        let mut live = e1_live();
        live["metadata"]["labels"] = json!({"team": "ops"});
        live["data"]["extra"] = json!("x");
        let live = with_entry(
            live,
            entry(
                "kubectl-edit",
                "Update",
                json!({"f:data": {"f:extra": {}}, "f:metadata": {"f:labels": {".": {}, "f:team": {}}}}),
            ),
        );
        assert_eq!(stale(&e1_sent(), &live), None);
        // An Update under our name (kubectl edit --field-manager) does not
        // count as our apply, nor does an apply to a subresource.
        let mut update = e1_live();
        update["metadata"]["managedFields"][0]["operation"] = json!("Update");
        update["metadata"]["managedFields"][0]["fieldsV1"]["f:data"]["f:old"] = json!({});
        assert_eq!(stale(&e1_sent(), &update), None);
        let mut status = with_entry(
            e1_live(),
            entry(FIELD_MANAGER, "Apply", json!({"f:status": {"f:phase": {}}})),
        );
        status["metadata"]["managedFields"][1]["subresource"] = json!("status");
        assert_eq!(stale(&e1_sent(), &status), None);
        // Without managedFields (an object someone else made, an old
        // apiserver) only the subset compare decides.
        let mut bare = e1_live();
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(stale(&e1_sent(), &bare), None);
    }

    #[test]
    fn every_apply_entry_of_ours_counts() {
        // Entries of the same manager from other API versions.
        let mut live = with_entry(
            e1_live(),
            entry(
                FIELD_MANAGER,
                "Apply",
                json!({"f:metadata": {"f:labels": {"f:a": {}}}}),
            ),
        );
        live["metadata"]["labels"] = json!({"a": "b"});
        assert_eq!(
            stale(&e1_sent(), &live),
            Some(Stale::Drops(".metadata.labels".into()))
        );
        let mut labelled = e1_sent();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        assert_eq!(stale(&labelled, &live), None);
    }

    /// A Deployment as we apply it, and the live object with the
    /// managedFields entry the apiserver records for that apply (the
    /// shape of calls/c1's entry: `k:` items with `.`).
    fn deployment() -> (Value, Value) {
        let want = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"template": {"spec": {
                "containers": [{
                    "name": "coredns", "image": "coredns:v1.10.1",
                    "args": ["-conf", "/etc/coredns/Corefile"],
                    "env": [{"name": "A", "value": "1"}],
                    "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                              {"containerPort": 9153, "name": "metrics"}],
                    "volumeMounts": [{"mountPath": "/etc/coredns", "name": "config-volume"}]
                }],
                "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
            }}}
        });
        let mut live = want.clone();
        live["spec"]["template"]["spec"]["containers"][0]["ports"][1]["protocol"] = json!("TCP");
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["spec"]["revisionHistoryLimit"] = json!(10);
        live["metadata"]["managedFields"] = json!([{
            "manager": "mk-firstboot", "operation": "Apply", "apiVersion": "apps/v1",
            "time": "2026-12-06T22:44:32Z", "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:k8s-app": {}}},
                "f:spec": {"f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"coredns\"}": {
                        ".": {}, "f:args": {}, "f:image": {}, "f:name": {},
                        "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                        "f:ports": {
                            "k:{\"containerPort\":53,\"protocol\":\"UDP\"}": {
                                ".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}
                            },
                            "k:{\"containerPort\":9153,\"protocol\":\"TCP\"}": {
                                ".": {}, "f:containerPort": {}, "f:name": {}
                            }
                        },
                        "f:volumeMounts": {"k:{\"mountPath\":\"/etc/coredns\"}": {
                            ".": {}, "f:mountPath": {}, "f:name": {}
                        }}
                    }},
                    "f:tolerations": {}
                }}}
            }
        }]);
        (want, live)
    }

    #[test]
    fn associative_list_items_are_found_by_their_merge_keys() {
        let (want, live) = deployment();
        // Server defaults (imagePullPolicy, a port's protocol) are no drop.
        assert_eq!(stale(&want, &live), None);

        // Another manager's env var, container and label: not ours.
        let mut shared = live.clone();
        shared["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "DEBUG", "value": "1"}));
        shared["metadata"]["labels"]["team"] = json!("ops");
        let shared = with_entry(
            shared,
            entry(
                "kubectl-set",
                "Update",
                json!({"f:metadata": {"f:labels": {"f:team": {}}},
                "f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"coredns\"}": {"f:env": {
                        "k:{\"name\":\"DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}}
                    }}
                }}}}}),
            ),
        );
        let mut with_debug = want.clone();
        with_debug["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "DEBUG", "value": "1"}));
        assert_eq!(dropped_field(&want, &shared), Ok(None));
        assert_eq!(stale(&with_debug, &shared), None);

        // Our env var dropped (another one in its place).
        let mut other_env = want.clone();
        other_env["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "B", "value": "1"}]);
        assert_eq!(
            dropped_field(&other_env, &live),
            Ok(Some(
                r#".spec.template.spec.containers[name="coredns"].env[name="A"]"#.to_string()
            ))
        );
        // A field inside an item dropped.
        let mut no_value = want.clone();
        no_value["spec"]["template"]["spec"]["containers"][0]["env"][0]
            .as_object_mut()
            .unwrap()
            .remove("value");
        assert_eq!(
            dropped_field(&no_value, &live),
            Ok(Some(
                r#".spec.template.spec.containers[name="coredns"].env[name="A"].value"#.to_string()
            ))
        );
        // A port now TCP instead of UDP: another item by the keys.
        let mut tcp = want.clone();
        tcp["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        assert_eq!(
            dropped_field(&tcp, &live),
            Ok(Some(
                r#".spec.template.spec.containers[name="coredns"].ports[containerPort=53,protocol="UDP"]"#
                    .to_string()
            ))
        );
        // A volume mount renamed: the item is keyed by mountPath.
        let mut moved = want.clone();
        moved["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] =
            json!("/etc/coredns2");
        assert_eq!(stale(&moved, &live), Some(Stale::Differs));
        assert_eq!(
            dropped_field(&moved, &live),
            Ok(Some(
                r#".spec.template.spec.containers[name="coredns"].volumeMounts[mountPath="/etc/coredns"]"#
                    .to_string()
            ))
        );
        // The container renamed: everything under the old one is dropped.
        let mut renamed = want.clone();
        renamed["spec"]["template"]["spec"]["containers"][0]["name"] = json!("dns");
        assert_eq!(
            dropped_field(&renamed, &live),
            Ok(Some(
                r#".spec.template.spec.containers[name="coredns"]"#.to_string()
            ))
        );
        // A dropped label.
        let mut unlabelled = want.clone();
        unlabelled["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        assert_eq!(
            dropped_field(&unlabelled, &live),
            Ok(Some(".metadata.labels".to_string()))
        );
    }

    #[test]
    fn atomic_lists_are_one_owned_field() {
        let (want, live) = deployment();
        // An arg or toleration less: the list differs (subset compare).
        let mut fewer = want.clone();
        fewer["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["-conf"]);
        assert_eq!(stale(&fewer, &live), Some(Stale::Differs));
        // No tolerations at all: an owned field dropped.
        let mut none = want.clone();
        none["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("tolerations");
        assert_eq!(
            stale(&none, &live),
            Some(Stale::Drops(".spec.template.spec.tolerations".into()))
        );
    }

    #[test]
    fn set_and_index_items_are_found() {
        let live = json!({"metadata": {"finalizers": ["a/b", "c"], "managedFields": [
            entry(FIELD_MANAGER, "Apply", json!({"f:metadata": {"f:finalizers": {
                "v:\"a/b\"": {}, "v:\"c\"": {}
            }}, "f:spec": {"f:list": {"i:1": {"f:x": {}}}}}))
        ]}, "spec": {"list": [{"x": 1}, {"x": 2}]}});
        let want = json!({"metadata": {"finalizers": ["a/b", "c"]}, "spec": {"list": [{"x": 1}, {"x": 2.0}]}});
        assert_eq!(stale(&want, &live), None);
        let mut one = want.clone();
        one["metadata"]["finalizers"] = json!(["c"]);
        assert_eq!(
            dropped_field(&one, &live),
            Ok(Some(r#".metadata.finalizers[="a/b"]"#.to_string()))
        );
        let mut short = want.clone();
        short["spec"]["list"] = json!([{"x": 1}]);
        assert_eq!(
            dropped_field(&short, &live),
            Ok(Some(".spec.list[1]".to_string()))
        );
    }

    #[test]
    fn the_recorded_update_entry_of_c1_read_as_our_apply() {
        // calls/c1's entry (kubectl-create, Update) owns the defaults the
        // apiserver filled in. Under our name as an Apply it would own
        // fields the request body does not have: an apply is due. As the
        // Update it is, it is not ours.
        let sent = json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "demo", "labels": {"app": "demo"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}},
                     "template": {"metadata": {"labels": {"app": "demo"}},
                                  "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9", "resources": {}}]}}}
        });
        let c1_fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"pause\"}": {
                            ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                            "f:resources": {}, "f:terminationMessagePath": {},
                            "f:terminationMessagePolicy": {}
                        }},
                        "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                        "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}
                    }
                }
            }
        });
        let mut live = sent.clone();
        live["metadata"]["managedFields"] =
            json!([entry("kubectl-create", "Update", c1_fields.clone())]);
        assert_eq!(stale(&sent, &live), None);
        live["metadata"]["managedFields"] = json!([entry(FIELD_MANAGER, "Apply", c1_fields)]);
        assert_eq!(
            stale(&sent, &live),
            Some(Stale::Drops(".spec.progressDeadlineSeconds".into()))
        );
    }

    #[test]
    fn unreadable_ownership_sends_the_apply() {
        let mut v2 = e1_live();
        v2["metadata"]["managedFields"][0]["fieldsType"] = json!("FieldsV2");
        assert_eq!(
            stale(&e1_sent(), &v2),
            Some(Stale::Unreadable(
                "fieldsType \"FieldsV2\", expected FieldsV1".into()
            ))
        );
        let mut missing = e1_live();
        missing["metadata"]["managedFields"][0]
            .as_object_mut()
            .unwrap()
            .remove("fieldsV1");
        assert!(matches!(
            stale(&e1_sent(), &missing),
            Some(Stale::Unreadable(_))
        ));
        for bad in [
            json!({"f:data": {"x:greeting": {}}}),
            json!({"f:data": {"f:greeting": []}}),
            json!({"f:data": {"k:{not json": {}}}),
            json!({"f:data": {"i:x": {}}}),
        ] {
            let mut live = e1_live();
            live["metadata"]["managedFields"][0]["fieldsV1"] = bad.clone();
            assert!(
                matches!(stale(&e1_sent(), &live), Some(Stale::Unreadable(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_status_of_an_apply_tells_created_from_configured() {
        assert_eq!(apply_outcome(201), Some(Outcome::Created));
        assert_eq!(apply_outcome(200), Some(Outcome::Configured));
        assert_eq!(apply_outcome(409), None);
        assert_eq!(apply_outcome(204), None);
    }

    #[test]
    fn only_our_apply_makes_an_object_ours() {
        assert!(owned_by_us(&e1_live()));
        let mut update = e1_live();
        update["metadata"]["managedFields"][0]["operation"] = json!("Update");
        assert!(!owned_by_us(&update));
        let mut kubeadm = e1_live();
        kubeadm["metadata"]["managedFields"][0]["manager"] = json!("kubeadm");
        assert!(!owned_by_us(&kubeadm));
        let mut shared = kubeadm.clone();
        shared["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": "mk-firstboot", "operation": "Apply"}));
        assert!(owned_by_us(&shared));
        assert!(!owned_by_us(&json!({"metadata": {"name": "x"}})));
    }

    #[test]
    fn urls_are_those_kubectl_sends() {
        // e1-ssa-configmap-first's request line.
        assert_eq!(
            apply_url("/api/v1/namespaces/default/configmaps/mk-firstboot-demo"),
            "/api/v1/namespaces/default/configmaps/mk-firstboot-demo\
             ?fieldManager=mk-firstboot&fieldValidation=Strict&force=false"
        );
        assert_eq!(
            collection_path("v1", "secrets", Some("kube-system")),
            "/api/v1/namespaces/kube-system/secrets"
        );
        assert_eq!(
            collection_path("rbac.authorization.k8s.io/v1", "clusterroles", None),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles"
        );
        assert_eq!(
            list_url(
                "/api/v1/namespaces/kube-system/secrets",
                Some("type=bootstrap.kubernetes.io/token")
            ),
            "/api/v1/namespaces/kube-system/secrets\
             ?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken"
        );
        assert_eq!(list_url("/api/v1/nodes", None), "/api/v1/nodes");
        assert_eq!(encode_query_value("a b,c&d~_"), "a%20b%2Cc%26d~_");
    }

    #[test]
    fn names_cannot_leave_their_path_segment() {
        assert!(valid_path_segment("cp1.example.com"));
        assert!(valid_path_segment("kubeadm:get-nodes"));
        for bad in ["", ".", "..", "a/b", "a?b", "a#b", "a%2f", "a b", "a\nb"] {
            assert!(!valid_path_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_hostname_label_marks_a_registered_node() {
        assert!(node_registered(
            &json!({"metadata": {"labels": {"kubernetes.io/hostname": "cp1"}}})
        ));
        assert!(!node_registered(
            &json!({"metadata": {"labels": {"a": "b"}}})
        ));
        assert!(!node_registered(&json!({"metadata": {"name": "cp1"}})));
    }

    #[test]
    fn error_answers_are_read_from_the_status() {
        let not_found = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}"#;
        assert_eq!(
            answer_message(not_found),
            r#"configmaps "x" not found (reason NotFound)"#
        );
        assert_eq!(
            answer_message(b"readyz check failed\n"),
            r#""readyz check failed""#
        );
        assert_eq!(answer_message(b""), "an empty body");
        let long = "x".repeat(1000);
        assert_eq!(answer_message(long.as_bytes()).len(), 300 + 2 + 3);
    }

    #[test]
    fn list_items_are_named() {
        let list = json!({"kind": "SecretList", "items": [
            {"metadata": {"name": "a"}}, {"metadata": {}}, {"metadata": {"name": "b"}}
        ]});
        let names: Vec<&str> = list_items(&list).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(list_items(&json!({"kind": "Status"})).is_empty());
    }

    /// The CSR of calls/f2, call 1 (spec.request shortened).
    fn f2_live() -> Value {
        json!({
            "kind": "CertificateSigningRequest",
            "apiVersion": "certificates.k8s.io/v1",
            "metadata": {
                "name": "csr-cp1-serving",
                "uid": "88634937-eafb-4e48-b1e4-baa42ffb3e58",
                "resourceVersion": "475",
                "creationTimestamp": "2026-12-06T22:44:33Z"
            },
            "spec": {
                "request": "LS0t",
                "signerName": "kubernetes.io/kubelet-serving",
                "usages": ["digital signature", "key encipherment", "server auth"],
                "username": "kubernetes-admin",
                "groups": ["system:masters", "system:authenticated"]
            },
            "status": {}
        })
    }

    #[test]
    fn the_approval_body_is_kubectls() {
        let body = approval_body(&f2_live(), "KubectlApprove", "2026-12-06T22:44:33Z");
        let mut want = f2_live();
        want["status"] = json!({"conditions": [{
            "type": "Approved",
            "status": "True",
            "reason": "KubectlApprove",
            "message": APPROVAL_MESSAGE,
            "lastUpdateTime": "2026-12-06T22:44:33Z",
            "lastTransitionTime": null
        }]});
        assert_eq!(body, want);
        // From a list item (no kind, apiVersion, status): the same.
        let mut item = f2_live();
        for k in ["kind", "apiVersion", "status"] {
            item.as_object_mut().unwrap().remove(k);
        }
        assert_eq!(
            approval_body(&item, "KubectlApprove", "2026-12-06T22:44:33Z"),
            want
        );
        // Earlier conditions stay, ours comes last.
        let mut other = f2_live();
        other["status"] = json!({"conditions": [{"type": "Note"}]});
        let body = approval_body(&other, "R", "2026-12-06T22:44:33Z");
        let c = body["status"]["conditions"].as_array().unwrap();
        assert_eq!(
            (c.len(), &c[0]["type"], &c[1]["type"]),
            (2, &json!("Note"), &json!("Approved"))
        );
    }

    #[test]
    fn final_conditions_end_the_review() {
        assert_eq!(csr_decided(&f2_live()), None);
        let approved = approval_body(&f2_live(), "R", "t");
        assert_eq!(csr_decided(&approved), Some("Approved"));
        let mut denied = f2_live();
        denied["status"] = json!({"conditions": [{"type": "Denied", "status": "True"}]});
        assert_eq!(csr_decided(&denied), Some("Denied"));
        let mut other = f2_live();
        other["status"] = json!({"conditions": [{"type": "Something"}]});
        assert_eq!(csr_decided(&other), None);
    }

    #[test]
    fn after_a_conflict_only_the_same_pending_request_is_approved() {
        let reviewed = f2_live();
        let mut fresh = f2_live();
        fresh["metadata"]["resourceVersion"] = json!("476");
        fresh["metadata"]["labels"] = json!({"a": "b"});
        assert_eq!(after_conflict(&reviewed, &fresh), AfterConflict::Retry);
        let approved = approval_body(&fresh, "R", "t");
        assert_eq!(
            after_conflict(&reviewed, &approved),
            AfterConflict::AlreadyApproved
        );
        let mut denied = fresh.clone();
        denied["status"] = json!({"conditions": [{"type": "Denied"}]});
        assert!(
            matches!(after_conflict(&reviewed, &denied), AfterConflict::GiveUp(m) if m.contains("Denied"))
        );
        let mut recreated = fresh.clone();
        recreated["metadata"]["uid"] = json!("other");
        assert!(
            matches!(after_conflict(&reviewed, &recreated), AfterConflict::GiveUp(m) if m.contains("uid"))
        );
        let mut respec = fresh;
        respec["spec"]["usages"] = json!(["server auth"]);
        assert!(
            matches!(after_conflict(&reviewed, &respec), AfterConflict::GiveUp(m) if m.contains("spec"))
        );
    }

    #[test]
    fn times_are_written_as_the_apiserver_does() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        // calls/f2's lastUpdateTime.
        assert_eq!(rfc3339_utc(1_796_597_073), "2026-12-06T22:44:33Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }
}
