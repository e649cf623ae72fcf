//! Interactions (contact data records) and the links of customers' identifiers into subjects.
//! Identifiers are stored sealed with a keyed blind index; this module never sees them in clear.

use callvault_model::personal::{Channel, Consent, IdentifierKind, InteractionDirection};
use callvault_model::records::Timestamp;
use callvault_model::{InteractionId, ServiceId, SubjectId, TenantId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, col_opt_uuid, col_uuid};

/// An interaction as stored, without its identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionRow {
    /// Id.
    pub id: InteractionId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Channel.
    pub channel: Channel,
    /// Direction.
    pub direction: InteractionDirection,
    /// The contact center's own reference.
    pub external_ref: Option<String>,
    /// Service or campaign.
    pub service_id: Option<ServiceId>,
    /// Consent to recording.
    pub consent: Consent,
    /// The subject its identifiers link to.
    pub subject_id: Option<SubjectId>,
    /// Start.
    pub started_at: Timestamp,
    /// End.
    pub ended_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
}

/// An identifier as stored: sealed, with its blind index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedIdentifier {
    /// Kind.
    pub kind: IdentifierKind,
    /// Keyed blind index of the normalised value.
    pub blind: String,
    /// The value sealed under the tenant's data key (base64).
    pub sealed: String,
    /// The data key version.
    pub key_version: u32,
}

/// A sealed identifier a key job moves to a newer data key version: on an interaction, or on the
/// tenant's exclusion list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResealIdentifier {
    /// The interaction it belongs to; `None` for the exclusion list.
    pub interaction: Option<InteractionId>,
    /// The identifier as stored.
    pub identifier: SealedIdentifier,
}

/// A reference objects were uploaded under that no interaction has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanReference {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The reference.
    pub reference: String,
    /// The earliest recording time of its objects.
    pub recorded_at: Timestamp,
    /// A class of its objects.
    pub class: String,
    /// A service of its objects.
    pub service_id: Option<ServiceId>,
}

/// Interactions and subjects. Every method is scoped to one tenant.
pub trait InteractionStore {
    /// Inserts an interaction with its agents and sealed identifiers.
    async fn insert_interaction(
        &mut self,
        row: &InteractionRow,
        agents: &[UserId],
        identifiers: &[SealedIdentifier],
    ) -> Result<()>
    where
        Self: Writable;
    /// The service (if any) of each interaction among `refs` (external references) that exists:
    /// `(reference, service)`.
    async fn services_by_reference(
        &mut self,
        tenant: TenantId,
        refs: &[String],
    ) -> Result<Vec<(String, Option<ServiceId>)>>;
    /// One interaction with its agents and sealed identifiers.
    async fn interaction(
        &mut self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<(InteractionRow, Vec<UserId>, Vec<SealedIdentifier>)>;
    /// The subjects some of `blinds` (kind, blind index) already belong to, oldest first.
    async fn subjects_of(&mut self, tenant: TenantId, blinds: &[(IdentifierKind, String)]) -> Result<Vec<SubjectId>>;
    /// Links identifiers to a subject (those already linked move with [`Self::merge_subjects`]).
    async fn link_identifiers(
        &mut self,
        tenant: TenantId,
        subject: SubjectId,
        blinds: &[(IdentifierKind, String)],
    ) -> Result<()>
    where
        Self: Writable;
    /// Moves everything of the subjects `from` to `into`: identifiers seen together are one person.
    async fn merge_subjects(&mut self, tenant: TenantId, into: SubjectId, from: &[SubjectId]) -> Result<()>
    where
        Self: Writable;
    /// The subjects of interactions that carry a name (by its blind index), oldest first.
    async fn subjects_named(&mut self, tenant: TenantId, blind: &str) -> Result<Vec<SubjectId>>;
    /// A subject's interactions, oldest first.
    async fn subject_interactions(&mut self, tenant: TenantId, subject: SubjectId) -> Result<Vec<InteractionRow>>;
    /// The interactions a user was an agent of, oldest first.
    async fn agent_interactions(&mut self, tenant: TenantId, user: UserId) -> Result<Vec<InteractionRow>>;
    /// A subject's distinct identifiers, sealed (one copy of each).
    async fn subject_identifiers(&mut self, tenant: TenantId, subject: SubjectId) -> Result<Vec<SealedIdentifier>>;
    /// A page of a tenant's interactions in id order, after `after`.
    async fn interactions_page(
        &mut self,
        tenant: TenantId,
        after: Option<InteractionId>,
        limit: i64,
    ) -> Result<Vec<InteractionRow>>;
    /// Inserts an interaction unless the tenant has one with its `external_ref` (content
    /// uploaded under a reference no interaction had); returns whether it was inserted.
    async fn ensure_interaction(&mut self, row: &InteractionRow) -> Result<bool>
    where
        Self: Writable;
    /// References that objects were uploaded under and no interaction has, with the earliest
    /// recording time, a class and a service of their objects: (tenant, reference, recorded at,
    /// class, service).
    async fn orphan_references(&mut self, limit: i64) -> Result<Vec<OrphanReference>>;
    /// The identifiers that never link a subject, sealed.
    async fn subject_exclusions(&mut self, tenant: TenantId) -> Result<Vec<SealedIdentifier>>;
    /// Replaces the identifiers that never link a subject, and unlinks them from the subjects they
    /// were linked to (what was merged through them stays merged).
    async fn set_subject_exclusions(&mut self, tenant: TenantId, ids: &[SealedIdentifier], at: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Identifiers (of interactions, then of the exclusion list) sealed under a version older
    /// than `target`, at most `limit`.
    async fn identifiers_to_reseal(
        &mut self,
        tenant: TenantId,
        target: u32,
        limit: i64,
    ) -> Result<Vec<ResealIdentifier>>;
    /// Replaces one identifier's sealed value (compare-and-swap on its version).
    async fn reseal_identifier(
        &mut self,
        tenant: TenantId,
        old: &ResealIdentifier,
        new_version: u32,
        sealed: &str,
    ) -> Result<()>
    where
        Self: Writable;
}

macro_rules! select_interaction {
    ($tail:literal) => {
        concat!(
            "SELECT id, tenant_id, channel, direction, external_ref, service_id, consent, subject_id, started_at, \
             ended_at, created_at FROM op_interaction ",
            $tail
        )
    };
}

macro_rules! insert_row {
    ($tail:literal) => {
        concat!(
            "INSERT INTO op_interaction (id, tenant_id, channel, direction, external_ref, service_id, consent, \
             subject_id, started_at, ended_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            $tail
        )
    };
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_row<'q>(q: AnyQuery<'q>, r: &'q InteractionRow) -> AnyQuery<'q> {
    q.bind(r.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.channel.as_str())
        .bind(r.direction.as_str())
        .bind(r.external_ref.as_deref())
        .bind(r.service_id.map(|s| s.to_string()))
        .bind(r.consent.as_str())
        .bind(r.subject_id.map(|s| s.to_string()))
        .bind(r.started_at.millis())
        .bind(r.ended_at.map(|t| t.millis()))
        .bind(r.created_at.millis())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("op_interaction: {what}"))
}

fn interaction_row(row: &AnyRow) -> Result<InteractionRow> {
    let name = |col: &str| -> Result<String> { Ok(row.try_get(col)?) };
    Ok(InteractionRow {
        id: InteractionId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        channel: Channel::parse(&name("channel")?).ok_or_else(|| corrupt("channel"))?,
        direction: InteractionDirection::parse(&name("direction")?).ok_or_else(|| corrupt("direction"))?,
        external_ref: row.try_get("external_ref")?,
        service_id: col_opt_uuid(row, "service_id")?.map(ServiceId),
        consent: Consent::parse(&name("consent")?).ok_or_else(|| corrupt("consent"))?,
        subject_id: col_opt_uuid(row, "subject_id")?.map(SubjectId),
        started_at: Timestamp(row.try_get("started_at")?),
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn identifier_row(row: &AnyRow) -> Result<SealedIdentifier> {
    let kind: String = row.try_get("kind")?;
    Ok(SealedIdentifier {
        kind: IdentifierKind::parse(&kind).ok_or_else(|| corrupt("identifier kind"))?,
        blind: row.try_get("blind")?,
        sealed: row.try_get("sealed")?,
        key_version: u32::try_from(row.try_get::<i64, _>("key_version")?).map_err(|_| corrupt("key version"))?,
    })
}

impl<C: Conn> InteractionStore for C {
    async fn insert_interaction(
        &mut self,
        r: &InteractionRow,
        agents: &[UserId],
        identifiers: &[SealedIdentifier],
    ) -> Result<()>
    where
        Self: Writable,
    {
        bind_row(sqlx::query(insert_row!("")), r).execute(self.conn()).await?;
        for a in agents {
            sqlx::query("INSERT INTO op_interaction_agent (interaction_id, user_id) VALUES ($1, $2)")
                .bind(r.id.to_string())
                .bind(a.to_string())
                .execute(self.conn())
                .await?;
        }
        for i in identifiers {
            sqlx::query(
                "INSERT INTO op_interaction_identifier (interaction_id, tenant_id, kind, blind, sealed, key_version) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(r.id.to_string())
            .bind(r.tenant_id.to_string())
            .bind(i.kind.as_str())
            .bind(&i.blind)
            .bind(&i.sealed)
            .bind(i64::from(i.key_version))
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn services_by_reference(
        &mut self,
        tenant: TenantId,
        refs: &[String],
    ) -> Result<Vec<(String, Option<ServiceId>)>> {
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(500) {
            let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT external_ref, service_id FROM op_interaction WHERE tenant_id = $1 AND external_ref IN ({list})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
            for r in chunk {
                q = q.bind(r.as_str());
            }
            for row in q.fetch_all(self.conn()).await? {
                out.push((row.try_get("external_ref")?, col_opt_uuid(&row, "service_id")?.map(ServiceId)));
            }
        }
        Ok(out)
    }

    async fn interaction(
        &mut self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<(InteractionRow, Vec<UserId>, Vec<SealedIdentifier>)> {
        let row = sqlx::query(select_interaction!("WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        let interaction = interaction_row(&row)?;
        let agents = sqlx::query("SELECT user_id FROM op_interaction_agent WHERE interaction_id = $1 ORDER BY user_id")
            .bind(id.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| col_uuid(r, "user_id").map(UserId))
            .collect::<Result<Vec<_>>>()?;
        let identifiers = sqlx::query(
            "SELECT kind, blind, sealed, key_version FROM op_interaction_identifier WHERE interaction_id = $1 \
             ORDER BY kind, blind",
        )
        .bind(id.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(identifier_row)
        .collect::<Result<Vec<_>>>()?;
        Ok((interaction, agents, identifiers))
    }

    async fn subjects_of(&mut self, tenant: TenantId, blinds: &[(IdentifierKind, String)]) -> Result<Vec<SubjectId>> {
        let mut out: Vec<SubjectId> = Vec::new();
        for (kind, blind) in blinds {
            let row = sqlx::query(
                "SELECT subject_id FROM op_subject_identifier WHERE tenant_id = $1 AND kind = $2 AND blind = $3",
            )
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(blind)
            .fetch_optional(self.conn())
            .await?;
            if let Some(row) = row {
                let s = SubjectId(col_uuid(&row, "subject_id")?);
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        // Subject ids are time-ordered (UUIDv7): the smallest is the oldest.
        out.sort();
        Ok(out)
    }

    async fn link_identifiers(
        &mut self,
        tenant: TenantId,
        subject: SubjectId,
        blinds: &[(IdentifierKind, String)],
    ) -> Result<()>
    where
        Self: Writable,
    {
        for (kind, blind) in blinds {
            sqlx::query(
                "INSERT INTO op_subject_identifier (tenant_id, kind, blind, subject_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, kind, blind) DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(blind)
            .bind(subject.to_string())
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn merge_subjects(&mut self, tenant: TenantId, into: SubjectId, from: &[SubjectId]) -> Result<()>
    where
        Self: Writable,
    {
        for f in from.iter().filter(|f| **f != into) {
            for sql in [
                "UPDATE op_subject_identifier SET subject_id = $1 WHERE tenant_id = $2 AND subject_id = $3",
                "UPDATE op_interaction SET subject_id = $1 WHERE tenant_id = $2 AND subject_id = $3",
                "UPDATE op_record_identifier SET subject_id = $1 WHERE tenant_id = $2 AND subject_id = $3",
            ] {
                sqlx::query(sql)
                    .bind(into.to_string())
                    .bind(tenant.to_string())
                    .bind(f.to_string())
                    .execute(self.conn())
                    .await?;
            }
        }
        Ok(())
    }

    async fn subjects_named(&mut self, tenant: TenantId, blind: &str) -> Result<Vec<SubjectId>> {
        sqlx::query(
            "SELECT DISTINCT n.subject_id FROM op_interaction_identifier i JOIN op_interaction n \
             ON n.id = i.interaction_id WHERE i.tenant_id = $1 AND i.kind = 'name' AND i.blind = $2 \
             AND n.subject_id IS NOT NULL ORDER BY n.subject_id",
        )
        .bind(tenant.to_string())
        .bind(blind)
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| col_uuid(r, "subject_id").map(SubjectId))
        .collect()
    }

    async fn subject_interactions(&mut self, tenant: TenantId, subject: SubjectId) -> Result<Vec<InteractionRow>> {
        sqlx::query(select_interaction!("WHERE tenant_id = $1 AND subject_id = $2 ORDER BY started_at, id"))
            .bind(tenant.to_string())
            .bind(subject.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(interaction_row)
            .collect()
    }

    async fn subject_exclusions(&mut self, tenant: TenantId) -> Result<Vec<SealedIdentifier>> {
        sqlx::query(
            "SELECT kind, blind, sealed, key_version FROM cfg_subject_exclusion WHERE tenant_id = $1 \
             ORDER BY kind, added_at, blind",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(identifier_row)
        .collect()
    }

    async fn identifiers_to_reseal(
        &mut self,
        tenant: TenantId,
        target: u32,
        limit: i64,
    ) -> Result<Vec<ResealIdentifier>> {
        let mut out = Vec::new();
        for (sql, on_interaction) in [
            (
                "SELECT interaction_id, kind, blind, sealed, key_version FROM op_interaction_identifier \
                 WHERE tenant_id = $1 AND key_version < $2 LIMIT $3",
                true,
            ),
            (
                "SELECT kind, blind, sealed, key_version FROM cfg_subject_exclusion \
                 WHERE tenant_id = $1 AND key_version < $2 LIMIT $3",
                false,
            ),
        ] {
            let left = limit - i64::try_from(out.len()).unwrap_or(limit);
            if left <= 0 {
                break;
            }
            let rows = sqlx::query(sql)
                .bind(tenant.to_string())
                .bind(i64::from(target))
                .bind(left)
                .fetch_all(self.conn())
                .await?;
            for row in &rows {
                let interaction =
                    if on_interaction { Some(InteractionId(col_uuid(row, "interaction_id")?)) } else { None };
                out.push(ResealIdentifier { interaction, identifier: identifier_row(row)? });
            }
        }
        Ok(out)
    }

    async fn reseal_identifier(
        &mut self,
        tenant: TenantId,
        old: &ResealIdentifier,
        new_version: u32,
        sealed: &str,
    ) -> Result<()>
    where
        Self: Writable,
    {
        let i = &old.identifier;
        let sql = if old.interaction.is_some() {
            "UPDATE op_interaction_identifier SET sealed = $5, key_version = $6 \
             WHERE tenant_id = $1 AND kind = $2 AND blind = $3 AND key_version = $4 AND interaction_id = $7"
        } else {
            "UPDATE cfg_subject_exclusion SET sealed = $5, key_version = $6 \
             WHERE tenant_id = $1 AND kind = $2 AND blind = $3 AND key_version = $4"
        };
        let mut q = sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(i.kind.as_str())
            .bind(i.blind.clone())
            .bind(i64::from(i.key_version))
            .bind(sealed.to_owned())
            .bind(i64::from(new_version));
        if let Some(interaction) = old.interaction {
            q = q.bind(interaction.to_string());
        }
        let r = q.execute(self.conn()).await?;
        crate::affected(r)
    }

    async fn set_subject_exclusions(&mut self, tenant: TenantId, ids: &[SealedIdentifier], at: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM cfg_subject_exclusion WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .execute(self.conn())
            .await?;
        for i in ids {
            sqlx::query(
                "INSERT INTO cfg_subject_exclusion (tenant_id, kind, blind, sealed, key_version, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, kind, blind) DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(i.kind.as_str())
            .bind(&i.blind)
            .bind(&i.sealed)
            .bind(i64::from(i.key_version))
            .bind(at.millis())
            .execute(self.conn())
            .await?;
            sqlx::query("DELETE FROM op_subject_identifier WHERE tenant_id = $1 AND kind = $2 AND blind = $3")
                .bind(tenant.to_string())
                .bind(i.kind.as_str())
                .bind(&i.blind)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    async fn agent_interactions(&mut self, tenant: TenantId, user: UserId) -> Result<Vec<InteractionRow>> {
        sqlx::query(select_interaction!(
            "WHERE tenant_id = $1 AND id IN (SELECT interaction_id FROM op_interaction_agent WHERE user_id = $2) \
             ORDER BY started_at, id"
        ))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(interaction_row)
        .collect()
    }

    async fn interactions_page(
        &mut self,
        tenant: TenantId,
        after: Option<InteractionId>,
        limit: i64,
    ) -> Result<Vec<InteractionRow>> {
        let after = after.map_or_else(String::new, |a| a.to_string());
        sqlx::query(select_interaction!("WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
            .bind(tenant.to_string())
            .bind(after)
            .bind(limit)
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(interaction_row)
            .collect()
    }

    async fn ensure_interaction(&mut self, r: &InteractionRow) -> Result<bool>
    where
        Self: Writable,
    {
        let done = bind_row(sqlx::query(insert_row!(" ON CONFLICT (tenant_id, external_ref) DO NOTHING")), r)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn orphan_references(&mut self, limit: i64) -> Result<Vec<OrphanReference>> {
        sqlx::query(
            "SELECT o.tenant_id, o.interaction, MIN(o.recorded_at) AS recorded_at, MIN(o.class) AS class, \
             MIN(o.service_id) AS service_id FROM op_object o WHERE o.interaction IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM op_interaction i WHERE i.tenant_id = o.tenant_id AND i.external_ref = o.interaction) \
             GROUP BY o.tenant_id, o.interaction ORDER BY o.tenant_id, o.interaction LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|row| {
            Ok(OrphanReference {
                tenant_id: TenantId(col_uuid(row, "tenant_id")?),
                reference: row.try_get("interaction")?,
                recorded_at: Timestamp(row.try_get("recorded_at")?),
                class: row.try_get("class")?,
                service_id: col_opt_uuid(row, "service_id")?.map(ServiceId),
            })
        })
        .collect()
    }

    async fn subject_identifiers(&mut self, tenant: TenantId, subject: SubjectId) -> Result<Vec<SealedIdentifier>> {
        let rows = sqlx::query(
            "SELECT i.kind, i.blind, i.sealed, i.key_version FROM op_interaction_identifier i \
             JOIN op_interaction n ON n.id = i.interaction_id \
             WHERE n.tenant_id = $1 AND n.subject_id = $2 ORDER BY i.kind, i.blind, n.created_at",
        )
        .bind(tenant.to_string())
        .bind(subject.to_string())
        .fetch_all(self.conn())
        .await?;
        let mut out: Vec<SealedIdentifier> = Vec::new();
        for row in &rows {
            let i = identifier_row(row)?;
            if !out.iter().any(|o| o.kind == i.kind && o.blind == i.blind) {
                out.push(i);
            }
        }
        Ok(out)
    }
}
