//! The OpenAPI schema of a stored entry ([`StoredEntry`]): one of `StoredObservation` and a
//! `Stored<Kind>` schema per other kind, each the envelope (`seq`, `kind`, `stationId`,
//! `timestamp`) with that kind's payload schema, derived from the NDBC parsers' payload structs.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AllOfBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::{Kind, StoredEntry};
use crate::domain::StoredObservation;

/// Components as `ToSchema::schemas` collects them.
type Schemas = Vec<(String, RefOr<Schema>)>;

/// Adds a payload schema, with the schemas it refers to, to the components.
type AddSchemas = fn(&mut Schemas);

/// The schema of the members every stored entry of a kind other than `observation` carries.
const ENVELOPE_SCHEMA: &str = "KindEntryEnvelope";

/// The payload schema of `kind`: its component name, and a function adding it (with the
/// schemas it refers to) to the components. `None` for `observation`, which has its own typed
/// schema. The one table from kinds to payload types.
fn payload_schema(kind: Kind) -> Option<(Cow<'static, str>, AddSchemas)> {
    fn add<T: ToSchema>(schemas: &mut Schemas) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
    fn of<T: ToSchema>() -> (Cow<'static, str>, AddSchemas) {
        (T::name(), add::<T>)
    }
    Some(match kind {
        Kind::Observation => return None,
        Kind::WaveSummary => of::<ndbc::WaveSummary>(),
        Kind::Spectrum => of::<ndbc::Spectrum>(),
        Kind::Ocean => of::<ndbc::Ocean>(),
        Kind::ContinuousWind => of::<ndbc::ContinuousWind>(),
        Kind::Tsunami => of::<ndbc::Tsunami>(),
        Kind::Supplemental => of::<ndbc::Supplemental>(),
        Kind::SolarRadiation => of::<ndbc::SolarRadiation>(),
        Kind::Rain => of::<ndbc::Rain>(),
        Kind::Drift => of::<ndbc::Drift>(),
        Kind::Currents => of::<ndbc::Currents>(),
        Kind::Derived => of::<ndbc::Derived>(),
    })
}

/// The component name of a stored entry of `kind`: `StoredObservation`, `StoredWaveSummary`, …
pub fn stored_schema_name(kind: Kind) -> String {
    let name = kind.name();
    let mut chars = name.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    format!(
        "Stored{}{}",
        first.into_iter().collect::<String>(),
        chars.as_str()
    )
}

impl PartialSchema for StoredEntry {
    fn schema() -> RefOr<Schema> {
        Kind::ALL
            .into_iter()
            .fold(OneOfBuilder::new(), |one_of, kind| {
                one_of.item(Ref::from_schema_name(stored_schema_name(kind)))
            })
            .description(Some(
                "An entry of the log with its seq: an observation, or an entry of another kind \
                 (SPEC §3a) whose members besides the envelope are that kind's fields, `null` \
                 when missing.",
            ))
            .into()
    }
}

impl ToSchema for StoredEntry {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((
            stored_schema_name(Kind::Observation),
            StoredObservation::schema(),
        ));
        <StoredObservation as ToSchema>::schemas(schemas);
        schemas.push((ENVELOPE_SCHEMA.to_owned(), envelope_schema()));
        for kind in Kind::ALL {
            let Some((payload, add)) = payload_schema(kind) else {
                continue;
            };
            add(schemas);
            schemas.push((stored_schema_name(kind), stored_kind_schema(kind, &payload)));
        }
    }
}

/// `seq`, `kind`, `stationId` and `timestamp`, all required.
fn envelope_schema() -> RefOr<Schema> {
    let others: Vec<&str> = Kind::ALL[1..].iter().map(|k| k.name()).collect();
    ObjectBuilder::new()
        .description(Some(
            "The members of a stored entry of a kind other than `observation` besides its fields.",
        ))
        .property(
            "seq",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .description(Some("Position in the log; the SSE event id.")),
        )
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(others)),
        )
        .property("stationId", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "timestamp",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .required("seq")
        .required("kind")
        .required("stationId")
        .required("timestamp")
        .into()
}

/// A stored entry of `kind`: the envelope, `kind` fixed to its name, and the payload's fields.
fn stored_kind_schema(kind: Kind, payload: &str) -> RefOr<Schema> {
    let fixed_kind = ObjectBuilder::new()
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([kind.name()])),
        )
        .required("kind");
    AllOfBuilder::new()
        .description(Some(format!(
            "A stored `{}` entry (SPEC §3a): the envelope and the kind's fields.",
            kind.name()
        )))
        .item(Ref::from_schema_name(ENVELOPE_SCHEMA))
        .item(fixed_kind)
        .item(Ref::from_schema_name(payload))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_schema_names() {
        assert_eq!(stored_schema_name(Kind::Observation), "StoredObservation");
        assert_eq!(
            stored_schema_name(Kind::ContinuousWind),
            "StoredContinuousWind"
        );
        assert_eq!(stored_schema_name(Kind::Spectrum), "StoredSpectrum");
    }
}
