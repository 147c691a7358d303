//! The shipped documents: the JSON Schema is the one the types generate;
//! the examples validate.

mod common;

use common::{control_plane_certificates, doc_example, now, EXAMPLE_LIST};
use mk_roleconfig::{parse_document, parse_node_config, validate, validate_document, Document};

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/role-config.schema.json"
);

#[test]
fn shipped_schema_is_the_generated_one() {
    let shipped = std::fs::read_to_string(SCHEMA).unwrap_or_default();
    assert!(
        shipped == mk_roleconfig::json_schema(),
        "docs/role-config.schema.json is stale; regenerate it with\n  \
         cargo run -q -p mk-roleconfig --example schema > docs/role-config.schema.json"
    );
}

#[test]
fn schema_documents_fields_and_refuses_unknown_ones() {
    let v: serde_json::Value = serde_json::from_str(&mk_roleconfig::json_schema()).unwrap();
    let defs = &v["$defs"];
    let spec = &defs["NodeSpec"];
    assert_eq!(spec["additionalProperties"], false);
    assert!(spec["properties"]["selinux"]["description"]
        .as_str()
        .unwrap()
        .contains("workload-only"));
    assert_eq!(
        defs["ClusterSpec"]["properties"]["kubernetesVersion"]["default"],
        "1.30"
    );
    let names = &spec["properties"]["certificates"]["propertyNames"]["enum"];
    assert!(names
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "etcd/peer.key"));
}

#[test]
fn example_list_validates_as_it_is() {
    let text = std::fs::read(EXAMPLE_LIST).unwrap();
    let doc = parse_document(&text, "node-config.yaml").unwrap();
    assert!(matches!(doc, Document::List(ref l) if l.items.len() == 2));
    assert_eq!(validate_document(&doc, now()), Ok(()));
}

#[test]
fn doc_example_validates_once_certificates_are_filled_in() {
    let mut cfg = parse_node_config(doc_example().as_bytes(), "role-config.md").unwrap();
    // As written (certificates left to mk-compose config-drive): exactly
    // the missing CA material is reported.
    let e: Vec<String> = validate(&cfg, now())
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e
        .iter()
        .all(|m| m.starts_with("spec.certificates: a control-plane node needs")));
    let dir = tempfile::tempdir().unwrap();
    cfg.spec.certificates = control_plane_certificates(dir.path());
    assert_eq!(validate(&cfg, now()), Ok(()));
}
