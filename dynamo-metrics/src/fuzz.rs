//! What the fuzz targets (`fuzz/`, outside the workspace) call that the API does not offer:
//! the status server's parsers of a request's parts and of the web configuration file. Not
//! part of the API: built only with the `fuzzing` feature, which nothing else turns on.

/// Whether an `Accept-Encoding` header value lets a scrape be gzip-compressed.
#[cfg(feature = "server")]
pub fn accepts_gzip(header: &str) -> bool {
    crate::serve::server::accepts_gzip(Some(header))
}

/// The metric names a query string asks for (its `name[]` parameters, percent-decoded).
#[cfg(feature = "server")]
pub fn names_asked(query: &str) -> Vec<String> {
    crate::serve::server::names_asked(query)
}

/// Reads `text` as a web configuration file at `path` (files it names are relative to its
/// folder), as the status server does at start and at every reload.
///
/// # Errors
/// [`Error::WebConfig`](crate::Error::WebConfig) naming the key at fault.
#[cfg(feature = "tls")]
pub fn web_config(path: &std::path::Path, text: &str) -> crate::Result<()> {
    crate::serve::web::Settings::parse(path, text).map(drop)
}
