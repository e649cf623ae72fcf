//! Personal-data rows written straight to the store, for tests that need one to exist (the
//! authorization matrix, the isolation walk) without going through its own route.

use callvault_model::personal::{
    Category, Channel, Consent, DpoRequest, DpoRequestKind, DpoRequestState, HoldScope, InteractionDirection,
    LegalHold, RetentionPolicy,
};
use callvault_model::{DpoRequestId, InteractionId, LegalHoldId, RetentionPolicyId, ServiceId, SubjectId, TenantId};
use callvault_store::prelude::*;
use callvault_store::{DpoRequestRow, InteractionRow};

use super::TestApp;

/// An interaction without identifiers, of `service` if given; its id.
pub async fn interaction(app: &TestApp, tenant: TenantId, service: Option<ServiceId>) -> String {
    let now = callvault_core::clock::Clock::now(&app.clock);
    let row = InteractionRow {
        id: InteractionId::new(),
        tenant_id: tenant,
        channel: Channel::Chat,
        direction: InteractionDirection::Inbound,
        external_ref: None,
        service_id: service,
        consent: Consent::Unknown,
        subject_id: None,
        started_at: now,
        ended_at: None,
        created_at: now,
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_interaction(&row, &[], &[]).await.unwrap();
    tx.commit().await.unwrap();
    row.id.to_string()
}

/// A data subject: an interaction linked to a new subject (no identifiers); the subject's id.
pub async fn subject(app: &TestApp, tenant: TenantId) -> String {
    let now = callvault_core::clock::Clock::now(&app.clock);
    let subject = SubjectId::new();
    let row = InteractionRow {
        id: InteractionId::new(),
        tenant_id: tenant,
        channel: Channel::Voice,
        direction: InteractionDirection::Inbound,
        external_ref: None,
        service_id: None,
        consent: Consent::Unknown,
        subject_id: Some(subject),
        started_at: now,
        ended_at: None,
        created_at: now,
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_interaction(&row, &[], &[]).await.unwrap();
    tx.commit().await.unwrap();
    subject.to_string()
}

/// An open access request about a new subject; its id.
pub async fn dpo_request(app: &TestApp, tenant: TenantId) -> String {
    let now = callvault_core::clock::Clock::now(&app.clock);
    let request = DpoRequest {
        id: DpoRequestId::new(),
        tenant_id: tenant,
        subject_id: subject(app, tenant).await.parse().unwrap(),
        kind: DpoRequestKind::Access,
        state: DpoRequestState::Open,
        requested_by: "test".into(),
        created_at: now,
        due_at: now,
        extended_reason: None,
        completed_at: None,
        outcome: serde_json::json!({}),
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_dpo_request(&DpoRequestRow { request: request.clone(), details: "{}".into() }).await.unwrap();
    tx.commit().await.unwrap();
    request.id.to_string()
}

/// A 30-day retention policy for calling lists; its id.
pub async fn retention_policy(app: &TestApp, tenant: TenantId) -> String {
    let policy = RetentionPolicy {
        id: RetentionPolicyId::new(),
        tenant_id: tenant,
        category: Category::CallingLists,
        service_id: None,
        days: 30,
        created_at: callvault_core::clock::Clock::now(&app.clock),
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_retention_policy(&policy).await.unwrap();
    tx.commit().await.unwrap();
    policy.id.to_string()
}

/// A legal hold in force on `service`; its id.
pub async fn legal_hold(app: &TestApp, tenant: TenantId, service: ServiceId) -> String {
    let hold = LegalHold {
        id: LegalHoldId::new(),
        tenant_id: tenant,
        name: "test hold".into(),
        reason: "test".into(),
        scope: HoldScope::Service(service),
        created_by: "test".into(),
        created_at: callvault_core::clock::Clock::now(&app.clock),
        released_at: None,
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_legal_hold(&hold).await.unwrap();
    tx.commit().await.unwrap();
    hold.id.to_string()
}
