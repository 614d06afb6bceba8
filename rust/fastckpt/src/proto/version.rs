//! `VersionDef { int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3; }`.

use super::wire::{varint_to_i32, Decoder, Encoder, WireResult};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionDef {
    pub producer: i32,
    pub min_consumer: i32,
    pub bad_consumers: Vec<i32>,
}

impl VersionDef {
    pub fn decode(buf: &[u8]) -> WireResult<Self> {
        let mut v = VersionDef::default();
        let mut d = Decoder::new(buf);
        while let Some((field, value)) = d.next_field()? {
            match field {
                1 => v.producer = value.as_i32()?,
                2 => v.min_consumer = value.as_i32()?,
                3 => value.for_each_varint(|x| {
                    v.bad_consumers.push(varint_to_i32(x));
                    Ok(())
                })?,
                _ => {}
            }
        }
        Ok(v)
    }

    pub fn encode(&self, out: &mut Encoder) {
        out.int64(1, i64::from(self.producer));
        out.int64(2, i64::from(self.min_consumer));
        out.packed_varints(3, self.bad_consumers.iter().map(|&c| i64::from(c) as u64));
    }

    /// Whether a consumer at `consumer` that needs at least `min_producer` may read this data.
    pub fn check(&self, what: &str, consumer: i32, min_producer: i32) -> Result<(), String> {
        if self.producer < min_producer {
            return Err(format!(
                "{what} producer version {} below min producer {min_producer} supported by fastckpt",
                self.producer
            ));
        }
        if self.min_consumer > consumer {
            return Err(format!(
                "{what} min consumer version {} above current version {consumer} supported by fastckpt",
                self.min_consumer
            ));
        }
        if self.bad_consumers.contains(&consumer) {
            return Err(format!("{what} disallows consumer version {consumer}"));
        }
        Ok(())
    }
}
