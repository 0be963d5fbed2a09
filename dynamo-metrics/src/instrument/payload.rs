//! Payload sizes of requests and responses. See [`PayloadSize`] for details.

/// The size in bytes of a request or response payload, for
/// `dynamo_component_request_bytes_total` and `dynamo_component_response_bytes_total`.
pub trait PayloadSize {
    /// How many bytes the payload has (serialised, for structured values).
    fn payload_size(&self) -> u64;
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl PayloadSize for [u8] {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for Vec<u8> {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for str {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for String {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for bytes::Bytes {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for serde_json::Value {
    fn payload_size(&self) -> u64 {
        struct Count(u64);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += len(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        match serde_json::to_writer(&mut count, self) {
            Ok(()) => count.0,
            Err(_) => 0,
        }
    }
}

impl PayloadSize for Vec<String> {
    fn payload_size(&self) -> u64 {
        self.iter().map(PayloadSize::payload_size).sum()
    }
}

impl PayloadSize for Vec<serde_json::Value> {
    fn payload_size(&self) -> u64 {
        self.iter().map(PayloadSize::payload_size).sum()
    }
}

impl<T: PayloadSize + ?Sized> PayloadSize for &T {
    fn payload_size(&self) -> u64 {
        (**self).payload_size()
    }
}

impl<T: PayloadSize + ?Sized> PayloadSize for Box<T> {
    fn payload_size(&self) -> u64 {
        (**self).payload_size()
    }
}

impl<T: PayloadSize> PayloadSize for Option<T> {
    fn payload_size(&self) -> u64 {
        self.as_ref().map_or(0, PayloadSize::payload_size)
    }
}

/// The successful value's size; an error has none.
impl<T: PayloadSize, E> PayloadSize for std::result::Result<T, E> {
    fn payload_size(&self) -> u64 {
        self.as_ref().map_or(0, PayloadSize::payload_size)
    }
}
