//! The protobuf writer against hand-made bytes, and its three paths (a snapshot, series read
//! in place, prepared heads) against each other.

use super::*;

#[test]
fn scalars_read_in_place_or_prepared_write_what_their_snapshot_does() {
    let names = vec!["k".to_owned(), "model".to_owned()];
    // Values of every length up to 300 (a length of two varint bytes), one empty (left out).
    let values: Vec<Vec<String>> = (0..300)
        .map(|i| {
            vec![
                if i == 7 {
                    String::new()
                } else {
                    "v".to_owned()
                },
                "m".repeat(i),
            ]
        })
        .collect();
    for kind in [Kind::Counter, Kind::Gauge, Kind::Untyped] {
        let series: Vec<ScalarSeries<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| ScalarSeries {
                names: &names,
                values: v,
                value: i as f64 * 1.5,
            })
            .collect();
        let mut fast = Vec::new();
        write_family(
            &mut fast,
            "f",
            &"h".repeat(200),
            kind,
            series.iter().copied(),
        );
        let family = Snapshot {
            name: "f".into(),
            help: "h".repeat(200),
            kind,
            series: series
                .iter()
                .map(|s| SeriesSnapshot {
                    labels: names
                        .iter()
                        .cloned()
                        .zip(s.values.iter().cloned())
                        .collect(),
                    value: Value::Scalar(s.value),
                    exemplars: Vec::new(),
                })
                .collect(),
        };
        let mut general = Vec::new();
        write_snapshot(&mut general, &family);
        assert_eq!(fast, general, "{kind:?}");
        let heads: Vec<Box<[u8]>> = values
            .iter()
            .map(|v| scalar_metric_head(kind, &names, v))
            .collect();
        let prepared = heads
            .iter()
            .zip(&series)
            .map(|(h, s)| Some((&**h, s.value)));
        let mut from_heads = vec![1, 2];
        let help = "h".repeat(200);
        assert!(write_prepared_scalars(
            &mut from_heads,
            ("f", &help, kind),
            prepared
        ));
        assert_eq!(from_heads[2..], general, "{kind:?}");
        // A series that is not a scalar, after two that are: nothing written, false.
        let mut not_all = vec![1, 2];
        let prepared = heads
            .iter()
            .zip(&series)
            .map(|(h, s)| Some((&**h, s.value)));
        let with_other = prepared.take(2).chain([None]);
        assert!(!write_prepared_scalars(
            &mut not_all,
            ("f", &help, kind),
            with_other
        ));
        assert_eq!(not_all, [1, 2]);
    }
}

#[test]
fn a_counter_family_byte_for_byte() {
    let family = Snapshot {
        name: "a_total".into(),
        help: "h".into(),
        kind: Kind::Counter,
        series: vec![SeriesSnapshot {
            labels: vec![("k".into(), "v".into())],
            value: Value::Scalar(1.0),
            exemplars: Vec::new(),
        }],
    };
    let mut out = Vec::new();
    write_snapshot(&mut out, &family);
    let one = 1.0f64.to_le_bytes();
    let mut want = vec![
        0x0A, 7, b'a', b'_', b't', b'o', b't', b'a', b'l', // name
        0x12, 1, b'h', // help
        0x18, 0, // type COUNTER
        0x22, 19, // metric
        0x0A, 6, 0x0A, 1, b'k', 0x12, 1, b'v', // label
        0x1A, 9, 0x09, // counter { value
    ];
    want.extend_from_slice(&one);
    want.insert(0, (want.len()) as u8);
    assert_eq!(out, want);
}
