//! The demo tenant's organisation beyond users: departments over the teams, a recording policy,
//! a week of agent performance statistics, and a calling list of the campaign.

use callvault_crypto::envelope::{BlindIndexKey, DataKey};
use callvault_model::records::{Department, Timestamp};
use callvault_model::reporting::AgentInterval;
use callvault_model::vault::{FieldDef, ListKind, RecordList};
use callvault_model::{DepartmentId, ListId, ServiceId, TenantId, UserId};
use callvault_policy::recording::{ConsentMode, ConsentParties, ConsentRule, RecordingPolicy, ServiceRule};
use callvault_store::prelude::*;
use callvault_store::{DirectoryStore, Tx};

/// Departments North and South (the Sales team goes into North, Support into South).
pub(super) async fn departments(tx: &mut Tx, tenant: TenantId, now: Timestamp) -> anyhow::Result<[DepartmentId; 2]> {
    let ids = [DepartmentId::new(), DepartmentId::new()];
    for (id, name) in ids.iter().zip(["North", "South"]) {
        tx.insert_department(&Department { id: *id, tenant_id: tenant, name: name.into(), created_at: now }).await?;
    }
    Ok(ids)
}

/// Quality-management recording of the inbound service; the campaign's outbound calls recorded
/// only with the customer's consent; pauses of at most three minutes.
pub(super) async fn recording_policy(
    tx: &mut Tx,
    tenant: TenantId,
    inbound: ServiceId,
    campaign: ServiceId,
    now: Timestamp,
) -> anyhow::Result<()> {
    let policy = RecordingPolicy {
        services: vec![
            ServiceRule { service_id: inbound, quality_management: true, personal: None, consent: None },
            ServiceRule {
                service_id: campaign,
                quality_management: false,
                personal: None,
                consent: Some(ConsentRule {
                    inbound: ConsentMode::NotRequired,
                    outbound: ConsentMode::Required,
                    parties: ConsentParties::Customer,
                }),
            },
        ],
        max_pause_seconds: 180,
        ..RecordingPolicy::default()
    };
    let policy = policy.normalise().map_err(|e| anyhow::anyhow!(e.to_string()))?;
    tx.set_recording_policy(tenant, &serde_json::to_string(&policy)?, now).await?;
    Ok(())
}

/// The seven days before `now`, 09:00 to 17:00 UTC, every 15 minutes, for each agent: a plausible
/// spread of talk, hold, wrap-up, available, break and other time (the same every run).
pub(super) async fn performance(
    tx: &mut Tx,
    tenant: TenantId,
    agents: &[UserId],
    now: Timestamp,
) -> anyhow::Result<usize> {
    const DAY: i64 = 86_400_000;
    const QUARTER: i64 = 900_000;
    let today = now.0 - now.0.rem_euclid(DAY);
    let mut rows = Vec::new();
    let mut seed: u32 = 0x2545_f491;
    let mut next = |n: u32| {
        // xorshift: varied, repeatable figures (demo data, not a secret).
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed % n
    };
    for (a, agent) in agents.iter().enumerate() {
        for day in 1..=7 {
            let start = today - day * DAY + 9 * 3_600_000;
            for q in 0..32 {
                let on_break = q == 12 || q == 13 || (q == 22 && a == 1);
                let (talk, hold, wrap, brk, other) = if on_break {
                    (0, 0, 0, 900, 0)
                } else {
                    let talk = 240 + next(420);
                    let hold = next(60);
                    let wrap = 30 + next(90);
                    let other = if q == 0 { 120 } else { 0 };
                    (talk, hold, wrap, 0, other)
                };
                let available = 900 - talk - hold - wrap - brk - other;
                rows.push(AgentInterval {
                    user_id: *agent,
                    interval_start: Timestamp(start + i64::from(q) * QUARTER),
                    talk_s: talk,
                    hold_s: hold,
                    wrap_up_s: wrap,
                    available_s: available,
                    break_s: brk,
                    other_s: other,
                    handled: if on_break { 0 } else { 1 + talk / 200 },
                    missed: u32::from(!on_break && next(10) == 0),
                });
            }
        }
    }
    tx.upsert_performance(tenant, &rows, now).await?;
    Ok(rows.len())
}

/// The campaign's calling list (name and phone encrypted, the phone searchable by its blind
/// index), read by the agents assigned to the campaign.
pub(super) async fn calling_list(
    tx: &mut Tx,
    tenant: TenantId,
    campaign: ServiceId,
    keys: (&DataKey, &BlindIndexKey),
    now: Timestamp,
) -> anyhow::Result<()> {
    let field = |name: &str, encrypted: bool| FieldDef {
        name: name.into(),
        encrypted,
        searchable: encrypted && name == "phone",
        required: name != "notes",
        identifier: None,
    };
    let list = RecordList {
        id: ListId::new(),
        tenant_id: tenant,
        kind: ListKind::CallingList,
        name: "Spring Renewal customers".into(),
        fields: vec![field("name", true), field("phone", true), field("notes", false)],
        service_id: Some(campaign),
        records: 0,
        created_at: now,
    };
    tx.insert_list(&list).await?;
    let customers = [
        ("Grace Hopper", "+12125550190", "renewal due in May"),
        ("Alan Turing", "+12125550191", "prefers calls after 4 pm"),
        ("Katherine Johnson", "+12125550192", "paid by card 4111 1111 1111 1111 last year"),
    ];
    for (name, phone, notes) in customers {
        let values = serde_json::json!({ "name": name, "phone": phone, "notes": notes });
        let serde_json::Value::Object(values) = values else { continue };
        let sealed =
            callvault_core::lists::seal_record(tenant, &list, &values, (Some(keys.0), Some(keys.1)), true, now)
                .map_err(|e| anyhow::anyhow!(e))?;
        tx.insert_record(tenant, &sealed.record, &sealed.blind).await?;
    }
    Ok(())
}
