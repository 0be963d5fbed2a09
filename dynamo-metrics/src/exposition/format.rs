//! The exposition formats we write and how a scrape chooses one: [`Format`] and
//! [`Format::negotiate`].

/// The content type of the text exposition format 0.0.4, what a scrape gets unless it asks
/// for another: `text/plain; version=0.0.4; charset=utf-8`.
pub const CONTENT_TYPE: &str = Format::Text.content_type();

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The Prometheus text format 0.0.4: the default, and what `*/*` gets.
    Text,
    /// OpenMetrics 1.0.0 text: counters as `_total` samples of a family without the suffix,
    /// `# EOF` at the end.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages: what Prometheus
    /// asks for first with native histograms on.
    Protobuf,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// The format an `Accept` header asks for, by media type and q-value (the first of equal
    /// q-values wins): protobuf for `application/vnd.google.protobuf` with
    /// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`, OpenMetrics 1.0.0
    /// (or 0.0.1) for `application/openmetrics-text`, text 0.0.4 for `text/plain`, `*/*`, a
    /// missing or malformed header, or only types we do not serve. Never an error: a target
    /// answers every scrape.
    pub fn negotiate(accept: Option<&str>) -> Negotiated {
        let mut best: Option<(f32, Negotiated)> = None;
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            let mut version = None;
            let mut escaping = None;
            let mut proto = None;
            let mut encoding = None;
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "q" => q = value.parse().unwrap_or(0.0),
                    "version" => version = Some(value.to_owned()),
                    "escaping" => escaping = Escaping::from_param(value),
                    "proto" => proto = Some(value.to_owned()),
                    "encoding" => encoding = Some(value.to_owned()),
                    _ => {}
                }
            }
            let format = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => {
                    Format::OpenMetrics
                }
                ("text/plain", None | Some("0.0.4" | "1.0.0")) | ("*/*", _) => Format::Text,
                ("application/vnd.google.protobuf", _)
                    if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                        && encoding.as_deref() == Some("delimited") =>
                {
                    Format::Protobuf
                }
                _ => continue,
            };
            // NaN and q=0 (or below) refuse the type.
            let acceptable = q > 0.0;
            if !acceptable || best.as_ref().is_some_and(|(b, _)| *b >= q) {
                continue;
            }
            best = Some((q, Negotiated { format, escaping }));
        }
        best.map_or(
            Negotiated {
                format: Format::Text,
                escaping: None,
            },
            |(_, n)| n,
        )
    }
}

/// The name escaping schemes of the Prometheus exposition formats. Our metric and label names
/// are legal Prometheus names, which every scheme leaves unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Escaping {
    /// `allow-utf-8`: names as they are.
    AllowUtf8,
    /// `underscores`: other characters become `_` (the default when none is asked for).
    Underscores,
    /// `dots`: `.` becomes `_dot_`, other characters `__`.
    Dots,
    /// `values`: other characters are hex-escaped behind a `U__` prefix.
    Values,
}

impl Escaping {
    fn from_param(value: &str) -> Option<Self> {
        match value {
            "allow-utf-8" => Some(Escaping::AllowUtf8),
            "underscores" => Some(Escaping::Underscores),
            "dots" => Some(Escaping::Dots),
            "values" => Some(Escaping::Values),
            _ => None,
        }
    }

    /// The scheme's name in the `escaping=` parameter.
    pub const fn as_str(self) -> &'static str {
        match self {
            Escaping::AllowUtf8 => "allow-utf-8",
            Escaping::Underscores => "underscores",
            Escaping::Dots => "dots",
            Escaping::Values => "values",
        }
    }
}

/// What a scrape asked for: the format, and the escaping scheme it named, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The format to answer in.
    pub format: Format,
    /// The escaping scheme the client named for that format; the response names it back.
    pub escaping: Option<Escaping>,
}

impl Negotiated {
    /// The response's `Content-Type`, with the escaping scheme when the client named one.
    pub fn content_type(&self) -> String {
        match self.escaping {
            Some(e) => format!("{}; escaping={}", self.format.content_type(), e.as_str()),
            None => self.format.content_type().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> (Format, Option<Escaping>) {
        let n = Format::negotiate(Some(accept));
        (n.format, n.escaping)
    }

    #[test]
    fn negotiation_table() {
        use Format::{OpenMetrics, Text};
        let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let cases: &[(&str, (Format, Option<Escaping>))] = &[
            (prometheus3, (OpenMetrics, Some(Escaping::AllowUtf8))),
            (
                "application/openmetrics-text; version=0.0.1",
                (OpenMetrics, None),
            ),
            ("text/plain;version=0.0.4", (Text, None)),
            ("*/*", (Text, None)),
            ("", (Text, None)),
            ("garbage;;;,=", (Text, None)),
            ("application/json", (Text, None)),
            ("application/openmetrics-text;version=2.0.0", (Text, None)),
            (
                "text/plain;q=0.9, application/openmetrics-text;q=0.5",
                (Text, None),
            ),
            (
                "text/plain;q=0.5, application/openmetrics-text;q=0.9",
                (OpenMetrics, None),
            ),
            ("application/openmetrics-text;q=0", (Text, None)),
            (
                "application/openmetrics-text;q=0.5, text/plain;q=0.5",
                (OpenMetrics, None),
            ),
            (
                "APPLICATION/OpenMetrics-Text; Version=1.0.0; escaping=underscores",
                (OpenMetrics, Some(Escaping::Underscores)),
            ),
            (
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                (Format::Protobuf, None),
            ),
            (
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
                (Text, None),
            ),
            ("application/vnd.google.protobuf", (Text, None)),
        ];
        for (accept, want) in cases {
            assert_eq!(pick(accept), *want, "{accept}");
        }
        assert_eq!(Format::negotiate(None).format, Text);
        assert_eq!(
            Format::negotiate(Some(prometheus3)).content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        );
    }
}
