//! Fuzzes model-driven validation (`validate_request`, `check_response`) with arbitrary JSON bodies: values
//! built from each operation's own shapes (the model's member names, enum values, lengths and ranges at and
//! past their limits), mutated with random keys and values of every JSON kind. A longer campaign:
//! `REKO_FUZZ_CASES=100000 cargo test --profile fuzz -p reko-protocol --test fuzz_protocol` (or `scripts/fuzz`);
//! the default is 256 cases per property.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use reko_protocol::error::ErrorCode;
use reko_protocol::model::{ServiceModel, ShapeKind};
use reko_protocol::validate::{BASE64, check_response, validate_request};
use serde_json::{Map, Number, Value};

/// Cases per property: `REKO_FUZZ_CASES`, 256 when unset.
fn cases() -> u32 {
    std::env::var("REKO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// `cases()` per property; failures are recorded (and replayed first) in the crate's
/// `proptest-regressions/fuzz_protocol.txt` (the default location needs a `lib.rs` beside the test).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz_protocol.txt"))),
        ..ProptestConfig::default()
    }
}

fn model() -> &'static ServiceModel {
    ServiceModel::get()
}

/// Every member name of the model, and every enum value (they turn up as map keys too).
fn model_words() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words = BTreeSet::new();
        for shape in model().shapes.values() {
            words.extend(shape.members.keys().cloned());
            words.extend(shape.enum_values.iter().flatten().cloned());
        }
        words.into_iter().collect()
    })
}

fn number(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Strings: unicode, control characters, the model's words, ids of the service's forms, long ones.
fn any_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "[a-zA-Z0-9_.:\\-]{0,24}",
        1 => select(model_words()),
        1 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        1 => "\\PC{0,8}",
        1 => "[ \t\n\r\u{0}\u{7f}\u{200b}\u{feff}]{0,4}",
        1 => (0usize..600).prop_map(|n| "x".repeat(n)),
        1 => (0usize..300, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
    .boxed()
}

fn any_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-5i64..300).prop_map(Value::from),
        any::<f64>().prop_map(number),
        (-1e3f64..1e3).prop_map(number),
        select(vec![
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            -0.0,
            1e300,
            -1e300,
            9.223372036854776e18,
            i64::MAX as f64 + 1.0,
            u64::MAX as f64,
            0.5,
            100.000001,
        ])
        .prop_map(number),
    ]
    .boxed()
}

fn any_scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => any_number(),
        3 => any_string().prop_map(Value::String),
    ]
    .boxed()
}

fn any_key() -> BoxedStrategy<String> {
    prop_oneof![3 => select(model_words()), 1 => any_string()].boxed()
}

/// Any JSON value: nested objects and arrays of scalars.
fn any_value() -> BoxedStrategy<Value> {
    any_scalar()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((any_key(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
        .boxed()
}

/// Sizes around a shape's limits: min - 1, min, max, max + 1, and some in between.
fn size_near(min: Option<f64>, max: Option<f64>, cap: usize) -> BoxedStrategy<usize> {
    let mut sizes: Vec<usize> = vec![0, 1, 2, 3];
    for limit in [min, max].into_iter().flatten() {
        if limit.is_finite() && limit >= 0.0 && limit <= cap as f64 {
            let l = limit as usize;
            sizes.extend([l.saturating_sub(1), l, l + 1]);
        }
    }
    sizes.retain(|&s| s <= cap);
    prop_oneof![6 => 0usize..4, 1 => select(sizes)].boxed()
}

/// A value for `shape_name`: mostly well-typed, with a type error or a random value now and then.
fn for_shape(name: &str) -> BoxedStrategy<Value> {
    let shape = model().shape(name);
    let typed: BoxedStrategy<Value> = match shape.kind {
        ShapeKind::Structure => {
            let members: Vec<BoxedStrategy<Option<(String, Value)>>> = shape
                .members
                .iter()
                .map(|(member, m)| {
                    let required = shape.required.contains(member);
                    let member = member.clone();
                    let value = for_shape(&m.shape).prop_map(move |v| (member.clone(), v));
                    // required members are mostly present; optional ones mostly absent
                    if required {
                        prop::option::weighted(0.9, value).boxed()
                    } else {
                        prop::option::weighted(0.35, value).boxed()
                    }
                })
                .collect();
            let extra = prop::collection::vec((any_key(), any_value()), 0..3);
            (members, extra)
                .prop_map(|(members, extra)| {
                    let mut object: Map<String, Value> = Map::new();
                    for (k, v) in members.into_iter().flatten().chain(extra) {
                        object.insert(k, v);
                    }
                    Value::Object(object)
                })
                .boxed()
        }
        ShapeKind::List => {
            let member = for_shape(&shape.member.as_ref().expect("list member").shape);
            let sizes = size_near(shape.min, shape.max, 300);
            // large lists repeat one generated item, so that sizes past the limit stay cheap
            (sizes, prop::collection::vec(member, 1..4))
                .prop_map(|(n, items)| Value::Array(items.iter().cycle().take(n).cloned().collect()))
                .boxed()
        }
        ShapeKind::Map => {
            let key = for_shape(&shape.key.as_ref().expect("map key").shape);
            let value = for_shape(&shape.value.as_ref().expect("map value").shape);
            let key = key.prop_map(|k| match k {
                Value::String(s) => s,
                other => other.to_string(),
            });
            prop_oneof![
                3 => prop::collection::btree_map(key, value.clone(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
                // past a size limit: many distinct keys
                1 => (size_near(shape.min, shape.max, 300), value).prop_map(|(n, v)| {
                    Value::Object((0..n).map(|i| (format!("k{i}"), v.clone())).collect())
                }),
            ]
            .boxed()
        }
        ShapeKind::String => {
            let enums = shape.enum_values.clone().unwrap_or_default();
            let lengths = size_near(shape.min, shape.max, 2100);
            let mut options: Vec<(u32, BoxedStrategy<Value>)> = vec![
                (3, any_string().prop_map(Value::String).boxed()),
                (2, (lengths, "[a-zA-Z0-9_.\\-]").prop_map(|(n, c)| Value::String(c.repeat(n))).boxed()),
            ];
            if !enums.is_empty() {
                options.push((4, select(enums).prop_map(Value::String).boxed()));
            }
            proptest::strategy::Union::new_weighted(options).boxed()
        }
        ShapeKind::Integer | ShapeKind::Long | ShapeKind::Float | ShapeKind::Double => {
            let mut limits: Vec<f64> = Vec::new();
            for limit in [shape.min, shape.max].into_iter().flatten() {
                limits.extend([limit - 1.0, limit - 0.5, limit, limit + 0.5, limit + 1.0]);
            }
            let integral = matches!(shape.kind, ShapeKind::Integer | ShapeKind::Long);
            let near = if limits.is_empty() { vec![0.0] } else { limits }
                .into_iter()
                .map(move |l| if integral && l.fract() == 0.0 { Value::from(l as i64) } else { number(l) });
            prop_oneof![2 => any_number(), 1 => select(near.collect::<Vec<_>>())].boxed()
        }
        ShapeKind::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        ShapeKind::Timestamp => any_number(),
        ShapeKind::Blob => prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Value::String(BASE64.encode(b))),
            1 => prop::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| Value::String(BASE64.encode(b).trim_end_matches('=').to_owned())),
            1 => "[A-Za-z0-9+/=_\\-*. ]{0,16}".prop_map(Value::String),
        ]
        .boxed(),
    };
    prop_oneof![12 => typed, 1 => any_scalar(), 1 => any_value()].boxed()
}

fn operation_names() -> Vec<String> {
    model().operations.keys().cloned().collect()
}

/// (operation, body) pairs for requests (`input`) or responses (`output`), every operation equally likely.
fn bodies(input: bool) -> impl Strategy<Value = (String, Value)> {
    let per_operation: Vec<BoxedStrategy<(String, Value)>> = model()
        .operations
        .iter()
        .map(|(name, op)| {
            let shape = if input { op.input.clone() } else { op.output.clone() };
            let body = match shape {
                Some(shape) => for_shape(&shape),
                None => any_value(),
            };
            let name = name.clone();
            prop_oneof![8 => body, 1 => any_value()].prop_map(move |b| (name.clone(), b)).boxed()
        })
        .collect();
    proptest::strategy::Union::new(per_operation)
}

const REQUEST_CODES: [ErrorCode; 3] = [ErrorCode::Serialization, ErrorCode::InvalidParameter, ErrorCode::ImageTooLarge];

fn is_validation_message(message: &str) -> bool {
    let Some((count, rest)) = message.split_once(' ') else { return false };
    count.parse::<usize>().is_ok_and(|n| n >= 1)
        && (rest.starts_with("validation error detected: ") || rest.starts_with("validation errors detected: "))
}

proptest! {
    #![proptest_config(config())]

    /// Any body of any operation: Ok, or one of the three codes validation returns, never a panic.
    #[test]
    fn validate_request_never_panics((operation, body) in bodies(true)) {
        if let Err(err) = validate_request(model(), &operation, &body) {
            prop_assert!(REQUEST_CODES.contains(&err.code), "{operation}: {err}");
            if err.code == ErrorCode::InvalidParameter {
                prop_assert!(is_validation_message(&err.message), "{operation}: {}", err.message);
            }
            prop_assert!(!err.message.is_empty());
        }
    }

    /// Arbitrary JSON at the top level and arbitrary operation names.
    #[test]
    fn validate_request_on_any_json_and_name(
        operation in prop_oneof![3 => select(operation_names()), 1 => any_string()],
        body in any_value(),
    ) {
        let known = model().operation(&operation).is_some();
        match validate_request(model(), &operation, &body) {
            Ok(()) => prop_assert!(known),
            Err(err) if known => prop_assert!(REQUEST_CODES.contains(&err.code), "{operation}: {err}"),
            Err(err) => prop_assert_eq!(err.code, ErrorCode::UnknownOperation),
        }
    }

    /// Validation is a pure function of the body: the same body gets the same answer twice.
    #[test]
    fn validate_request_is_deterministic((operation, body) in bodies(true)) {
        prop_assert_eq!(validate_request(model(), &operation, &body), validate_request(model(), &operation, &body));
    }

    /// The strict response check: Ok or a message, never a panic.
    #[test]
    fn check_response_never_panics((operation, body) in bodies(false)) {
        if let Err(message) = check_response(model(), &operation, &body) {
            prop_assert!(!message.is_empty());
        }
    }
}
