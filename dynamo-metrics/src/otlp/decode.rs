//! The little the exporter reads of its receivers' answers: an
//! `ExportMetricsServiceResponse`'s partial success, a `google.rpc.Status` and its
//! `google.rpc.RetryInfo`, a percent-encoded `grpc-message`. A reader of protobuf fields
//! that gives up (`None`) on anything malformed.

use std::time::Duration;

use base64::Engine;

/// A field's value: a varint, or a length-delimited slice (fixed-width fields are skipped).
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// Every field of a message, or `None` if it is malformed.
fn fields(mut message: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !message.is_empty() {
        let key = varint(&mut message)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut message)?),
            1 => {
                message = message.get(8..)?;
                Field::Other
            }
            2 => {
                let len = usize::try_from(varint(&mut message)?).ok()?;
                let (bytes, rest) = (message.get(..len)?, message.get(len..)?);
                message = rest;
                Field::Bytes(bytes)
            }
            5 => {
                message = message.get(4..)?;
                Field::Other
            }
            _ => return None,
        };
        out.push((key >> 3, field));
    }
    Some(out)
}

fn varint(message: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = message.split_first()?;
        *message = rest;
        value |= u64::from(byte & 0x7F).checked_shl(shift)?;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// `rejected_data_points` and `error_message` of a response's partial success; zero and
/// empty when it has none.
pub(super) fn partial_success(body: &[u8]) -> Option<(u64, String)> {
    let mut out = (0, String::new());
    for (field, value) in fields(body)? {
        if let (1, Field::Bytes(partial)) = (field, value) {
            for (field, value) in fields(partial)? {
                match (field, value) {
                    (1, Field::Varint(n)) => out.0 = n,
                    (2, Field::Bytes(m)) => out.1 = String::from_utf8_lossy(m).into_owned(),
                    _ => {}
                }
            }
        }
    }
    Some(out)
}

/// A `google.rpc.Status`: its message and the `Any` details (type URL, value).
pub(super) struct Status<'a> {
    pub(super) message: String,
    details: Vec<(&'a [u8], &'a [u8])>,
}

pub(super) fn status(body: &[u8]) -> Option<Status<'_>> {
    let mut status = Status {
        message: String::new(),
        details: Vec::new(),
    };
    for (field, value) in fields(body)? {
        match (field, value) {
            (2, Field::Bytes(m)) => status.message = String::from_utf8_lossy(m).into_owned(),
            (3, Field::Bytes(any)) => {
                let (mut url, mut value): (&[u8], &[u8]) = (&[], &[]);
                for (field, v) in fields(any)? {
                    match (field, v) {
                        (1, Field::Bytes(u)) => url = u,
                        (2, Field::Bytes(v)) => value = v,
                        _ => {}
                    }
                }
                status.details.push((url, value));
            }
            _ => {}
        }
    }
    Some(status)
}

/// The delay of the `google.rpc.RetryInfo` in a `grpc-status-details-bin` header (base64 of
/// a `google.rpc.Status`), if it has one.
pub(super) fn retry_delay(header: &str) -> Option<Duration> {
    let header = header.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(header)
        .ok()?;
    let status = status(&bytes)?;
    let (_, info) = status
        .details
        .iter()
        .find(|(url, _)| url.ends_with(b"google.rpc.RetryInfo"))?;
    let mut delay = Duration::ZERO;
    for (field, value) in fields(info)? {
        if let (1, Field::Bytes(duration)) = (field, value) {
            for (field, value) in fields(duration)? {
                match (field, value) {
                    (1, Field::Varint(s)) => delay += Duration::from_secs(s),
                    (2, Field::Varint(n)) => {
                        delay += Duration::from_nanos(n.min(999_999_999));
                    }
                    _ => {}
                }
            }
        }
    }
    Some(delay)
}

/// `text` with its `%XX` escapes undone; `None` for an invalid escape or bytes that are not
/// UTF-8. Header values of the configuration and a `grpc-message` are written so.
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_from_status_details() {
        // Status { code: 8, message: "slow", details: [Any { type_url:
        // "type.googleapis.com/google.rpc.RetryInfo", value: RetryInfo { retry_delay: { seconds: 2, nanos: 500000000 } } }] }
        let url = b"type.googleapis.com/google.rpc.RetryInfo";
        let duration = [0x08, 2, 0x10, 0x80, 0xCA, 0xB5, 0xEE, 0x01];
        let mut info = vec![0x0A, duration.len() as u8];
        info.extend_from_slice(&duration);
        let mut any = vec![0x0A, url.len() as u8];
        any.extend_from_slice(url);
        any.extend_from_slice(&[0x12, info.len() as u8]);
        any.extend_from_slice(&info);
        let mut status = vec![
            0x08,
            8,
            0x12,
            4,
            b's',
            b'l',
            b'o',
            b'w',
            0x1A,
            any.len() as u8,
        ];
        status.extend_from_slice(&any);
        let header = base64::engine::general_purpose::STANDARD.encode(&status);
        assert_eq!(retry_delay(&header), Some(Duration::from_millis(2500)));
        assert_eq!(super::status(&status).unwrap().message, "slow");
        assert_eq!(retry_delay("!!"), None);
    }

    #[test]
    fn malformed_answers_are_refused() {
        assert!(partial_success(&[0x0A, 9, 1]).is_none());
        assert!(partial_success(&[0xFF; 11]).is_none());
        assert_eq!(partial_success(&[]), Some((0, String::new())));
        assert_eq!(percent_decode("a%20b%2C").as_deref(), Some("a b,"));
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
