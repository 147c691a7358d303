//! What a role-config file may cost to parse, bounded before the real parse
//! (issue 12). Role configs come from a drive or a URL that anyone with the
//! hardware can write, and libyaml and serde_norway have two costs that grow
//! faster than the file:
//!
//! - flow nesting: libyaml re-checks every open flow level at each token,
//!   so N nested `[` take O(N²) (100,000 took 16 s), and serde_norway parses
//!   the whole document into events before anything looks at them;
//! - aliases: each `*alias` is a full copy of its anchored node once
//!   deserialised (1 MB anchored × 1,000 aliases = 1 GB).
//!
//! [`prescan`] walks libyaml's own event stream, pulled one event at a time
//! and dropped at once (libyaml scans lazily, so stopping at depth 65 costs
//! 65 levels, not 100,000), and refuses the file when it nests deeper than
//! [`MAX_DEPTH`] or when its expanded size, aliases replayed, exceeds
//! [`MAX_EXPANDED`]. Using libyaml's events rather than a lexer of our own
//! means the nesting counted is exactly the nesting libyaml will build:
//! quoted scalars, comments, block scalars and multi-line plain scalars
//! cannot hide a bracket from the check. [`Census`] is the second bound,
//! during parsing: the untyped first pass of `parse_document` deserialises
//! into it instead of a `Value`; it keeps nothing but the top level's
//! shape and `kind`, and counts the same budget as the aliases are
//! replayed (an alias inside its own anchor cannot be sized by the
//! prescan; it nests without end and stops at the depth limit here).

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use unsafe_libyaml_norway as unsafe_libyaml;

/// Deepest nesting of collections accepted. Role configs nest fewer than
/// 10 levels (`items[0].spec.planes.control.cidr`); 64 leaves room and
/// keeps libyaml's per-token work small.
pub const MAX_DEPTH: usize = 64;

/// Largest expanded size accepted: scalar bytes plus [`NODE_COST`] per
/// node, aliases counted as copies of what they name. 4 × the largest file
/// ([`super::MAX_CONFIG_BYTES`]): a file without aliases stays far below
/// (its scalars are at most 16 MiB and 48 MiB is 1.5 million nodes), while
/// the typed pass that copies aliased values stays within a few hundred MB
/// whatever the file does. A fixed figure rather than a multiple of the
/// file's size, so that a small config sharing a CA bundle among 40 list
/// items by alias is not refused.
pub const MAX_EXPANDED: u64 = 4 * super::MAX_CONFIG_BYTES as u64;

/// What a node costs in [`MAX_EXPANDED`]: roughly what a String, a Vec
/// slot or a struct field costs once deserialised, so that a billion
/// laughs of empty scalars counts too.
pub const NODE_COST: u64 = 32;

/// Why a file was refused before (or while) it was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nesting deeper than [`MAX_DEPTH`]; 1-based line of the first
    /// collection too deep (0: unknown).
    TooDeep { line: usize },
    /// Expanded size over [`MAX_EXPANDED`]; `aliases`: whether aliases
    /// made it so.
    TooLarge { aliases: bool },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooDeep { line: 0 } => {
                write!(f, "YAML nesting deeper than {MAX_DEPTH} levels")
            }
            Refusal::TooDeep { line } => {
                write!(
                    f,
                    "YAML nesting deeper than {MAX_DEPTH} levels at line {line}"
                )
            }
            Refusal::TooLarge { aliases: true } => write!(
                f,
                "aliases expand to more than {MAX_EXPANDED} bytes (billion-laughs?)"
            ),
            Refusal::TooLarge { aliases: false } => write!(
                f,
                "more than {MAX_EXPANDED} bytes once parsed (scalars, plus {NODE_COST} a node): \
                 not a role config"
            ),
        }
    }
}

/// Checks depth and expanded size on libyaml's event stream. A YAML
/// syntax error ends the check without a refusal: the real parse that
/// follows stops at the same place and reports it with its location.
pub fn prescan(bytes: &[u8]) -> Result<(), Refusal> {
    let Some(mut parser) = EventParser::new(bytes) else {
        // libyaml could not allocate its parser: the real parse will say so.
        return Ok(());
    };
    // Expanded size so far; sizes of anchored nodes by name (per document,
    // as YAML scopes them); open collections: expanded size at their start
    // and their anchor.
    let mut expanded: u64 = 0;
    let mut aliased = false;
    let mut anchors: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut open: Vec<(u64, Option<Vec<u8>>)> = Vec::new();
    loop {
        let Some((event, line)) = parser.next() else {
            return Ok(());
        };
        match event {
            Event::StreamEnd => return Ok(()),
            Event::DocumentStart => anchors.clear(),
            Event::Start { anchor } => {
                if open.len() >= MAX_DEPTH {
                    return Err(Refusal::TooDeep { line });
                }
                open.push((expanded, anchor));
                expanded = expanded.saturating_add(NODE_COST);
            }
            Event::End => {
                if let Some((start, Some(anchor))) = open.pop() {
                    anchors.insert(anchor, expanded - start);
                }
            }
            Event::Scalar { anchor, len } => {
                let size = len.saturating_add(NODE_COST);
                if let Some(a) = anchor {
                    anchors.insert(a, size);
                }
                expanded = expanded.saturating_add(size);
            }
            Event::Alias { anchor } => {
                aliased = true;
                // Unknown (or still open: an alias inside its own anchor)
                // costs a node here; the census bounds the rest.
                let size = anchors.get(&anchor).copied().unwrap_or(NODE_COST);
                expanded = expanded.saturating_add(size);
            }
            Event::Other => {}
        }
        if expanded > MAX_EXPANDED {
            return Err(Refusal::TooLarge { aliases: aliased });
        }
    }
}

/// The parts of a libyaml event the prescan needs, copied out so that the
/// event can be freed at once.
enum Event {
    StreamEnd,
    DocumentStart,
    Start { anchor: Option<Vec<u8>> },
    End,
    Scalar { anchor: Option<Vec<u8>>, len: u64 },
    Alias { anchor: Vec<u8> },
    Other,
}

/// libyaml's pull parser over a byte slice: what serde_norway drives
/// (same crate, same settings), but one event at a time.
struct EventParser<'a> {
    // Boxed: libyaml keeps a pointer to the parser itself (its read
    // handler's data), so it must not move once the input is set.
    raw: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    input: PhantomData<&'a [u8]>,
}

impl<'a> EventParser<'a> {
    fn new(input: &'a [u8]) -> Option<EventParser<'a>> {
        let mut raw = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        let p = raw.as_mut_ptr();
        // SAFETY: `p` points to memory for a parser that stays in place
        // (boxed) and is deleted in Drop only once initialised; the input
        // outlives the parser ('a).
        unsafe {
            if unsafe_libyaml::yaml_parser_initialize(p).fail {
                return None;
            }
            unsafe_libyaml::yaml_parser_set_encoding(p, unsafe_libyaml::YAML_UTF8_ENCODING);
            unsafe_libyaml::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as u64);
        }
        Some(EventParser {
            raw,
            input: PhantomData,
        })
    }

    /// The next event and its 1-based line; `None` after a syntax error.
    fn next(&mut self) -> Option<(Event, usize)> {
        let p = self.raw.as_mut_ptr();
        let mut ev = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised (constructor); a successful
        // yaml_parser_parse initialises the event, which is read through
        // the union member its type names and deleted before returning.
        unsafe {
            // After an error or the stream's end libyaml fails again (and
            // the caller stops at the first None anyway).
            if unsafe_libyaml::yaml_parser_parse(p, ev.as_mut_ptr()).fail {
                return None;
            }
            let e = &*ev.as_ptr();
            let line = e.start_mark.line as usize + 1;
            let event = match e.type_ {
                unsafe_libyaml::YAML_STREAM_END_EVENT => Event::StreamEnd,
                unsafe_libyaml::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => Event::Start {
                    anchor: anchor(e.data.sequence_start.anchor),
                },
                unsafe_libyaml::YAML_MAPPING_START_EVENT => Event::Start {
                    anchor: anchor(e.data.mapping_start.anchor),
                },
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT
                | unsafe_libyaml::YAML_MAPPING_END_EVENT => Event::End,
                unsafe_libyaml::YAML_SCALAR_EVENT => Event::Scalar {
                    anchor: anchor(e.data.scalar.anchor),
                    len: e.data.scalar.length,
                },
                unsafe_libyaml::YAML_ALIAS_EVENT => Event::Alias {
                    anchor: anchor(e.data.alias.anchor).unwrap_or_default(),
                },
                _ => Event::Other,
            };
            unsafe_libyaml::yaml_event_delete(ev.as_mut_ptr());
            Some((event, line))
        }
    }
}

/// An anchor name (NUL-terminated, owned by the event), copied.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn anchor(p: *mut u8) -> Option<Vec<u8>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated (libyaml's anchors).
    Some(
        unsafe { CStr::from_ptr(p as *const std::ffi::c_char) }
            .to_bytes()
            .to_vec(),
    )
}

impl Drop for EventParser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (an EventParser exists only then).
        unsafe { unsafe_libyaml::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

/// What the untyped pass keeps of the document: the top level's shape and,
/// for a mapping, its `kind`.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Null,
    Bool,
    Number,
    /// The text, kept for the top level and its values only.
    String(Option<String>),
    Sequence,
    Mapping {
        kind: Option<Box<Shape>>,
    },
    Tagged,
}

/// Budget and refusal shared by the [`Census`] seeds of one document.
#[derive(Debug, Default)]
pub struct Budget {
    used: u64,
    /// Set when the census stopped the parse (the serde error it returned
    /// carries only the location).
    pub refusal: Option<Refusal>,
}

impl Budget {
    fn spend<E: de::Error>(&mut self, n: u64) -> Result<(), E> {
        self.used = self.used.saturating_add(n);
        if self.used > MAX_EXPANDED {
            // The prescan sized every alias it could; what is left is an
            // alias replayed inside itself.
            return Err(self.refuse(Refusal::TooLarge { aliases: true }));
        }
        Ok(())
    }

    fn refuse<E: de::Error>(&mut self, r: Refusal) -> E {
        let e = E::custom(&r);
        self.refusal = Some(r);
        e
    }
}

/// A `DeserializeSeed` that walks any YAML node, keeping only its
/// [`Shape`], counting [`Budget`] and depth, and refusing duplicate keys
/// (as serde_norway's `Value` did here before).
pub struct Census<'b> {
    pub budget: &'b mut Budget,
    /// Collections around this node.
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for Census<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

impl Census<'_> {
    fn child(&mut self) -> Census<'_> {
        Census {
            budget: &mut *self.budget,
            depth: self.depth + 1,
        }
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.budget.refuse(Refusal::TooDeep { line: 0 }));
        }
        self.budget.spend(NODE_COST)
    }

    fn scalar<E: de::Error>(&mut self, len: usize, shape: Shape) -> Result<Shape, E> {
        self.budget.spend(len as u64 + NODE_COST)?;
        Ok(shape)
    }

    fn text<E: de::Error>(&mut self, s: &str) -> Result<Shape, E> {
        // Only the top level's values are ever looked at (`kind`).
        let keep = (self.depth <= 1).then(|| s.to_string());
        self.scalar(s.len(), Shape::String(keep))
    }
}

impl<'de> Visitor<'de> for Census<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<Shape, E> {
        self.scalar(8, Shape::Bool)
    }
    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<Shape, E> {
        self.scalar(8, Shape::Number)
    }
    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<Shape, E> {
        self.scalar(8, Shape::Number)
    }
    fn visit_i128<E: de::Error>(mut self, _: i128) -> Result<Shape, E> {
        self.scalar(16, Shape::Number)
    }
    fn visit_u128<E: de::Error>(mut self, _: u128) -> Result<Shape, E> {
        self.scalar(16, Shape::Number)
    }
    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<Shape, E> {
        self.scalar(8, Shape::Number)
    }
    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<Shape, E> {
        self.text(s)
    }
    fn visit_bytes<E: de::Error>(mut self, b: &[u8]) -> Result<Shape, E> {
        self.scalar(b.len(), Shape::String(None))
    }
    fn visit_unit<E: de::Error>(mut self) -> Result<Shape, E> {
        self.scalar(0, Shape::Null)
    }
    fn visit_none<E: de::Error>(mut self) -> Result<Shape, E> {
        self.scalar(0, Shape::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Shape, A::Error> {
        self.enter()?;
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(Shape::Sequence)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Shape, A::Error> {
        self.enter()?;
        let mut seen = HashSet::new();
        let mut kind = None;
        while let Some(key) = map.next_key_seed(KeySeed(self.child()))? {
            let is_kind = self.depth == 0 && key == Some(Key::String("kind".into()));
            if let Some(k) = key {
                if seen.contains(&k) {
                    return Err(de::Error::custom(format_args!(
                        "duplicate entry {}",
                        k.describe()
                    )));
                }
                seen.insert(k);
            }
            let value = map.next_value_seed(self.child())?;
            if is_kind {
                kind = Some(Box::new(value));
            }
        }
        Ok(Shape::Mapping { kind })
    }

    fn visit_enum<A: EnumAccess<'de>>(mut self, data: A) -> Result<Shape, A::Error> {
        // A tag (`!foo value`): serde_norway hands it over as an enum.
        let (tag, value): (String, _) = data.variant()?;
        self.budget.spend(tag.len() as u64)?;
        value.newtype_variant_seed(self.child())?;
        Ok(Shape::Tagged)
    }
}

/// A mapping key as duplicate checks compare it (scalars only, as
/// serde_norway's `Value` compares them; other keys are not compared).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Null,
    Bool(bool),
    Int(i128),
    Float(u64),
    String(String),
}

impl Key {
    /// As serde_norway's `Value` put it.
    fn describe(&self) -> String {
        match self {
            Key::Null => "with null key".into(),
            Key::Bool(b) => format!("with key `{b}`"),
            Key::Int(n) => format!("with key {n}"),
            Key::Float(bits) => format!("with key {}", f64::from_bits(*bits)),
            Key::String(s) => format!("with key {s:?}"),
        }
    }
}

/// Deserialises a key through the census (budget, depth) and returns it
/// when it is a scalar.
struct KeySeed<'b>(Census<'b>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<Key>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Key>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<Key>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML mapping key")
    }

    fn visit_bool<E: de::Error>(mut self, b: bool) -> Result<Option<Key>, E> {
        self.0.scalar(8, Shape::Bool)?;
        Ok(Some(Key::Bool(b)))
    }
    fn visit_i64<E: de::Error>(mut self, n: i64) -> Result<Option<Key>, E> {
        self.0.scalar(8, Shape::Number)?;
        Ok(Some(Key::Int(n.into())))
    }
    fn visit_u64<E: de::Error>(mut self, n: u64) -> Result<Option<Key>, E> {
        self.0.scalar(8, Shape::Number)?;
        Ok(Some(Key::Int(n.into())))
    }
    fn visit_f64<E: de::Error>(mut self, n: f64) -> Result<Option<Key>, E> {
        self.0.scalar(8, Shape::Number)?;
        Ok(Some(Key::Float(n.to_bits())))
    }
    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<Option<Key>, E> {
        self.0.scalar(s.len(), Shape::Null)?;
        Ok(Some(Key::String(s.to_string())))
    }
    fn visit_unit<E: de::Error>(mut self) -> Result<Option<Key>, E> {
        self.0.scalar(0, Shape::Null)?;
        Ok(Some(Key::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Key>, A::Error> {
        self.0.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Key>, A::Error> {
        self.0.visit_map(map).map(|_| None)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Option<Key>, A::Error> {
        self.0.visit_enum(data).map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_document, ParseErrorKind};

    fn deep_flow(n: usize) -> String {
        format!("kind: NodeConfig\nx: {}{}\n", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn flow_nesting_stops_at_the_limit_with_its_line() {
        // The top mapping is level 1: 63 brackets make 64 levels.
        assert_eq!(prescan(deep_flow(MAX_DEPTH - 1).as_bytes()), Ok(()));
        assert_eq!(
            prescan(deep_flow(MAX_DEPTH).as_bytes()),
            Err(Refusal::TooDeep { line: 2 })
        );
        let t = std::time::Instant::now();
        let e = parse_document(deep_flow(200_000).as_bytes(), "n.yaml").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Syntax);
        assert_eq!(
            e.to_string(),
            "n.yaml: YAML nesting deeper than 64 levels at line 2"
        );
        // 69 s before the bound (quadratic in libyaml); a debug build
        // stops within milliseconds.
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    #[test]
    fn block_nesting_counts_too() {
        let deep = format!("kind: NodeConfig\nx:\n{}a\n", "- ".repeat(100));
        let e = parse_document(deep.as_bytes(), "n.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "n.yaml: YAML nesting deeper than 64 levels at line 3"
        );
        let mut indented = String::from("kind: NodeConfig\n");
        for i in 0..70 {
            indented.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        let e = parse_document(indented.as_bytes(), "n.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            // k0's value is level 2 (line 3): level 65 starts at line 66.
            "n.yaml: YAML nesting deeper than 64 levels at line 66"
        );
    }

    #[test]
    fn brackets_in_scalars_and_comments_are_not_nesting() {
        let many = "[".repeat(500);
        let text = format!(
            "kind: NodeConfig # {many}\n\
             a: '{many}'\n\
             b: \"{many}\"\n\
             c: |\n  {many}\n  {many}\n\
             d: >\n  {many}\n\
             e: x{many}\n\
             f: x\n  {many}\n"
        );
        assert_eq!(prescan(text.as_bytes()), Ok(()));
        let mut budget = Budget::default();
        let shape = Census {
            budget: &mut budget,
            depth: 0,
        }
        .deserialize(serde_norway::Deserializer::from_slice(text.as_bytes()))
        .unwrap();
        assert_eq!(
            shape,
            Shape::Mapping {
                kind: Some(Box::new(Shape::String(Some("NodeConfig".into()))))
            }
        );
    }

    /// `&a` on a scalar of `len` bytes, then `n` aliases of it.
    fn laughs(len: usize, n: usize) -> String {
        let mut t = format!("kind: NodeConfig\na: &a {}\nb:\n", "x".repeat(len));
        for _ in 0..n {
            t.push_str("- *a\n");
        }
        t
    }

    #[test]
    fn aliases_are_counted_as_the_copies_they_make() {
        // 1 MB × 60 stays under 64 MiB; × 70 does not.
        assert_eq!(prescan(laughs(1 << 20, 60).as_bytes()), Ok(()));
        assert_eq!(
            prescan(laughs(1 << 20, 70).as_bytes()),
            Err(Refusal::TooLarge { aliases: true })
        );
        let e = parse_document(laughs(1 << 20, 1000).as_bytes(), "n.yaml").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Syntax);
        assert_eq!(
            e.to_string(),
            "n.yaml: aliases expand to more than 67108864 bytes (billion-laughs?)"
        );
        // Nested anchors: 10 levels of 10 aliases of the level below.
        let mut t = String::from("kind: NodeConfig\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            t.push_str(&format!(
                "l{i}: &l{i} [{}]\n",
                vec![format!("*l{p}"); 10].join(", ")
            ));
        }
        assert_eq!(
            prescan(t.as_bytes()),
            Err(Refusal::TooLarge { aliases: true })
        );
    }

    #[test]
    fn an_alias_inside_its_own_anchor_stops_at_the_depth_limit() {
        let t = "kind: NodeConfig\na: &a [x, *a, *a]\n";
        assert_eq!(prescan(t.as_bytes()), Ok(()));
        let e = parse_document(t.as_bytes(), "n.yaml").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Syntax);
        assert!(
            e.message
                .starts_with("YAML nesting deeper than 64 levels at line 2"),
            "{e}"
        );
    }

    #[test]
    fn millions_of_nodes_are_refused_before_serde_keeps_their_events() {
        let t = format!("kind: NodeConfig\na: [{}]\n", "[],".repeat(2_200_000));
        assert_eq!(
            prescan(t.as_bytes()),
            Err(Refusal::TooLarge { aliases: false })
        );
    }

    #[test]
    fn duplicate_keys_name_the_key() {
        let e =
            parse_document(b"kind: NodeConfig\na: 1\nb:\n  c: 1\n  c: 2\n", "n.yaml").unwrap_err();
        assert_eq!(e.path, None, "{e}");
        assert_eq!(e.message, "b: duplicate entry with key \"c\"", "{e}");
        // The mapping holding the duplicate (as `Value` reported it).
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn syntax_errors_pass_the_prescan_for_the_parser_to_report() {
        assert_eq!(prescan(b"a: [b\nc: d\n"), Ok(()));
        assert_eq!(prescan(b"\xff\xfe"), Ok(()));
    }
}
