//! Prints the role config's JSON Schema. Regenerate the shipped copy with
//! `cargo run -q -p mk-roleconfig --example schema > docs/role-config.schema.json`.

fn main() {
    print!("{}", mk_roleconfig::json_schema());
}
