//! The personal data report of a subject: every item per category with its dates, retention
//! deadline, holds and recording state, as JSON and as a printable HTML page.

use std::collections::HashMap;

use callvault_model::access::Action;
use callvault_model::dial::DncListKind;
use callvault_model::personal::{
    Category, DpoRequest, HoldScope, Identifier, IdentifierKind, LegalHold, retention_days,
};
use callvault_model::records::Grantee;
use callvault_model::records::Timestamp;
use callvault_model::{PrincipalId, SubjectId, TenantId, UserId};
use callvault_store::prelude::*;
use callvault_store::{InteractionRow, RecordingStore, StoreError};
use serde::Serialize;

use super::{DAY_MS, DpoError, SubjectData, covers, gather, pseudonyms, read_permit};
use crate::caller::Ctx;
use crate::services::Services;

/// One item of a report with its retention deadline and the holds that keep it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportItem {
    /// Id.
    pub id: String,
    /// What it is (`interaction`, a content class, `calling_list_record`, `do_not_call`).
    pub kind: String,
    /// Category.
    #[schema(value_type = String)]
    pub category: Category,
    /// When it was recorded.
    pub recorded_at: Option<Timestamp>,
    /// What else there is to say (channel and direction, size, list and field).
    pub about: String,
    /// When its retention ends; absent: kept until erased (no policy covers it).
    pub retention_until: Option<Timestamp>,
    /// Names of the legal holds in force that keep it.
    pub holds: Vec<String>,
    /// Recordings: `encrypted` or `plain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
}

/// The personal data report of a data subject.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectReport {
    /// Subject.
    pub subject_id: SubjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// When it was made.
    pub generated_at: Timestamp,
    /// Every identifier linked to the subject.
    pub identifiers: Vec<Identifier>,
    /// Counts per category.
    #[schema(value_type = Object)]
    pub counts: HashMap<Category, usize>,
    /// Every item, per category.
    pub items: Vec<ReportItem>,
    /// Legal holds in force on the subject's data.
    pub holds: Vec<LegalHold>,
    /// Requests about the subject.
    pub requests: Vec<DpoRequest>,
}

/// The personal data report of a subject (data protection officers; an audited decrypting read).
pub async fn report(state: &Services, ctx: &Ctx, subject: SubjectId) -> Result<SubjectReport, DpoError> {
    let tenant = read_permit(state, ctx).await?;
    let data = gather(state, tenant, subject).await?;
    if data.interactions.is_empty() && data.records.is_empty() {
        return Err(DpoError::NoSuchSubject);
    }
    let rep = build_report(state, tenant, subject, &data).await?;
    let event =
        ctx.event("subject.report").target("subject", subject).origin(ctx.origin(state)).details(
            serde_json::json!({ "items": rep.items.len(), "identifiers": pseudonyms(state, &data.identifiers) }),
        );
    state.auditor.record_now(state.clock.now(), &event).await?;
    Ok(rep)
}

pub(super) async fn build_report(
    state: &Services,
    tenant: TenantId,
    subject: SubjectId,
    data: &SubjectData,
) -> Result<SubjectReport, DpoError> {
    let mut r = state.store.reader().await?;
    let policies = r.retention_policies(tenant).await?;
    let holds: Vec<LegalHold> = r
        .legal_holds(tenant)
        .await?
        .into_iter()
        .filter(|h| h.released_at.is_none() && covers(h, subject, data))
        .collect();
    let requests: Vec<DpoRequest> =
        r.dpo_requests(tenant).await?.into_iter().map(|x| x.request).filter(|x| x.subject_id == subject).collect();
    let lists = r.dnc_lists(Some(tenant)).await?;
    let holds_of = |interaction: Option<&InteractionRow>, service: Option<callvault_model::ServiceId>| -> Vec<String> {
        holds
            .iter()
            .filter(|h| match h.scope {
                HoldScope::Subject(_) => true,
                HoldScope::Interaction(i) => interaction.is_some_and(|x| x.id == i),
                HoldScope::Service(s) => service == Some(s) || interaction.is_some_and(|x| x.service_id == Some(s)),
            })
            .map(|h| h.name.clone())
            .collect()
    };
    let mut items = Vec::new();
    let mut by_ref: HashMap<String, &InteractionRow> = HashMap::new();
    for i in &data.interactions {
        for r in crate::subjects::references(i) {
            by_ref.insert(r, i);
        }
        items.push(ReportItem {
            id: i.id.to_string(),
            kind: "interaction".into(),
            category: Category::ContactRecords,
            recorded_at: Some(i.started_at),
            about: format!("{} {} call or conversation, consent {}", i.direction, i.channel, i.consent),
            retention_until: until(i.started_at, retention_days(&policies, Category::ContactRecords, i.service_id)),
            holds: holds_of(Some(i), i.service_id),
            state: None,
        });
    }
    for o in &data.objects {
        let interaction = o.interaction.as_deref().and_then(|r| by_ref.get(r).copied());
        let own = retention_days(&policies, o.class.category(), o.service_id);
        let call = interaction.and_then(|i| retention_days(&policies, Category::ContactRecords, i.service_id));
        items.push(ReportItem {
            id: o.id.to_string(),
            kind: o.class.as_str().into(),
            category: o.class.category(),
            recorded_at: Some(o.recorded_at),
            about: format!("{} bytes of {}", o.size, o.content_type),
            retention_until: until(o.recorded_at, own.max(call)),
            holds: holds_of(interaction, o.service_id),
            state: Some(if o.key_version.is_some() { "encrypted" } else { "plain" }),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for rec in data.records.iter().filter(|x| seen.insert(x.record_id)) {
        items.push(ReportItem {
            id: rec.record_id.to_string(),
            kind: "calling_list_record".into(),
            category: Category::CallingLists,
            recorded_at: None,
            about: format!("list {}, field {}", rec.list_id, rec.field),
            retention_until: None,
            holds: holds_of(None, None),
            state: None,
        });
    }
    for i in data.identifiers.iter().filter(|i| i.kind == IdentifierKind::Phone) {
        let Ok(n) = callvault_policy::numbers::parse(i.value.expose(), None) else { continue };
        let Some(key) = crate::dial::number_key(&n) else { continue };
        for list in r.internal_lists_with(tenant, key).await? {
            let name = lists.iter().find(|l| l.id == list && l.kind == DncListKind::Internal).map(|l| l.name.clone());
            items.push(ReportItem {
                id: list.to_string(),
                kind: "do_not_call".into(),
                category: Category::ContactRecords,
                recorded_at: None,
                about: format!("on the do-not-call list {}", name.unwrap_or_default()),
                retention_until: None,
                holds: Vec::new(),
                state: None,
            });
        }
    }
    let mut counts = HashMap::new();
    for i in &items {
        *counts.entry(i.category).or_insert(0) += 1;
    }
    Ok(SubjectReport {
        subject_id: subject,
        tenant_id: tenant,
        generated_at: state.clock.now(),
        identifiers: data.identifiers.clone(),
        counts,
        items,
        holds,
        requests,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page_head(title: &str) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str(&format!("<title>{}</title>", esc(title)));
    h.push_str("<style>body{font:14px/1.4 sans-serif;margin:2em}table{border-collapse:collapse;width:100%}");
    h.push_str(
        "td,th{border:1px solid #999;padding:4px;text-align:left}@media print{a{color:inherit}}</style></head><body>",
    );
    h
}

fn items_table(items: &[ReportItem]) -> String {
    let mut h = String::from("<h2>Data</h2><table><thead><tr><th>Category</th><th>Kind</th><th>Id</th>");
    h.push_str(
        "<th>Recorded</th><th>About</th><th>State</th><th>Kept until</th><th>Legal holds</th></tr></thead><tbody>",
    );
    for i in items {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i.category,
            esc(&i.kind),
            esc(&i.id),
            i.recorded_at.map(|t| esc(&t.to_string())).unwrap_or_default(),
            esc(&i.about),
            i.state.unwrap_or(""),
            i.retention_until.map_or_else(|| "until erased".to_owned(), |t| esc(&t.to_string())),
            esc(&i.holds.join(", ")),
        ));
    }
    h.push_str("</tbody></table>");
    h
}

/// The report as a printable HTML page (no script, no external resource).
pub fn report_html(rep: &SubjectReport) -> String {
    let mut h = page_head("Personal data report");
    h.push_str(&report_body_html(rep));
    h.push_str("</body></html>");
    h
}

/// The report's content without the page around it (escaped; the console shows it in its own
/// page, under its style sheet).
pub fn report_body_html(rep: &SubjectReport) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<h1>Personal data report</h1><p>Subject <code>{}</code>, generated {}.</p>",
        rep.subject_id,
        esc(&rep.generated_at.to_string())
    ));
    h.push_str("<h2>Identifiers</h2><ul>");
    for i in &rep.identifiers {
        h.push_str(&format!("<li>{}: {}</li>", i.kind, esc(i.value.expose())));
    }
    h.push_str("</ul>");
    h.push_str(&items_table(&rep.items));
    h.push_str("<h2>Legal holds</h2><ul>");
    for hold in &rep.holds {
        h.push_str(&format!("<li>{}: {}</li>", esc(&hold.name), esc(&hold.reason)));
    }
    h.push_str("</ul><h2>Requests</h2><ul>");
    for q in &rep.requests {
        h.push_str(&format!("<li>{} {} ({}), due {}</li>", q.kind, q.id, q.state, esc(&q.due_at.to_string())));
    }
    h.push_str("</ul>");
    h
}

/// The personal data report of a user: master data, assignments, roles, sessions, directory
/// information, and the contact records and recordings the user was an agent of, each with its
/// retention deadline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserReport {
    /// Master data: names, login, directory addresses.
    #[schema(value_type = Object)]
    pub user: callvault_model::records::User,
    /// Teams, skills and services.
    #[schema(value_type = Object)]
    pub assignments: callvault_model::records::Assignments,
    /// Roles granted.
    pub roles: Vec<String>,
    /// Open sessions.
    pub sessions: usize,
    /// Stations the user works at.
    pub stations: Vec<String>,
    /// Whether the user's directory information is collected.
    pub directory_collected: bool,
    /// Contact records and recordings of the user as an agent.
    pub items: Vec<ReportItem>,
    /// When it was made.
    pub generated_at: Timestamp,
}

/// The personal data report of a user (whoever may update the user — administrators — and the
/// user about themself; an audited read).
pub async fn user_report(state: &Services, ctx: &Ctx, user: UserId) -> Result<UserReport, DpoError> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    let found = r.user(tenant, user).await.map_err(|e| match e {
        StoreError::NotFound => DpoError::NoSuchUser,
        e => e.into(),
    })?;
    let assignments = r.assignments(tenant, user).await?;
    drop(r);
    let skills = crate::directory::users::skill_ids(&assignments);
    let resource = crate::directory::users::user_ref(tenant, user, &assignments, &skills);
    // The user about themself, or whoever administers the user: the report holds more than a
    // reader of user records may see (what the user did as an agent).
    let action = if ctx.principal == PrincipalId::User(user) { Action::Read } else { Action::Update };
    ctx.authorize(state, action, &resource).await?;
    let mut r = state.store.reader().await?;
    let roles =
        r.grants_with_roles(tenant, Grantee::User(user)).await?.into_iter().map(|(_, role)| role.name).collect();
    let sessions = r.sessions_of(PrincipalId::User(user)).await?.len();
    let stations = r.stations(tenant).await?.into_iter().filter(|s| s.user_id == Some(user)).map(|s| s.name).collect();
    let policies = r.retention_policies(tenant).await?;
    let interactions = r.agent_interactions(tenant, user).await?;
    let mut items: Vec<ReportItem> = interactions
        .iter()
        .map(|i| ReportItem {
            id: i.id.to_string(),
            kind: "interaction".into(),
            category: Category::ContactRecords,
            recorded_at: Some(i.started_at),
            about: format!("{} {} as an agent", i.direction, i.channel),
            retention_until: until(i.started_at, retention_days(&policies, Category::ContactRecords, i.service_id)),
            holds: Vec::new(),
            state: None,
        })
        .collect();
    let mut after = None;
    loop {
        let q = callvault_store::ObjectQuery { class: None, interaction: None, after, limit: 1000 };
        let page = r.objects(tenant, &q).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for o in page.iter().filter(|o| o.agents.contains(&user)) {
            items.push(ReportItem {
                id: o.id.to_string(),
                kind: o.class.as_str().into(),
                category: o.class.category(),
                recorded_at: Some(o.recorded_at),
                about: format!("{} bytes of {} as an agent", o.size, o.content_type),
                retention_until: until(o.recorded_at, retention_days(&policies, o.class.category(), o.service_id)),
                holds: Vec::new(),
                state: Some(if o.key_version.is_some() { "encrypted" } else { "plain" }),
            });
        }
    }
    // Reporting data: one item per day of statistics, with the reporting retention.
    let performance = r.performance(tenant, &[user], Timestamp(i64::MIN), Timestamp(i64::MAX)).await?;
    drop(r);
    let mut days: std::collections::BTreeMap<i64, (u32, u64)> = std::collections::BTreeMap::new();
    for i in &performance {
        let d = days.entry(i.interval_start.millis().div_euclid(DAY_MS) * DAY_MS).or_default();
        d.0 += 1;
        d.1 += i.total_s();
    }
    for (day, (intervals, seconds)) in days {
        items.push(ReportItem {
            id: format!("performance:{}", Timestamp(day)),
            kind: "performance".into(),
            category: Category::Reporting,
            recorded_at: Some(Timestamp(day)),
            about: format!("work-time statistics: {intervals} interval(s), {seconds} s accounted for"),
            retention_until: until(Timestamp(day), retention_days(&policies, Category::Reporting, None)),
            holds: Vec::new(),
            state: None,
        });
    }
    let directory_collected = crate::collection::collected(state, tenant, Some(user), Category::Directory).await?;
    let event = ctx
        .event("user.personal_data_report")
        .target("user", user)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "items": items.len() }));
    state.auditor.record_now(state.clock.now(), &event).await?;
    Ok(UserReport {
        user: found,
        assignments,
        roles,
        sessions,
        stations,
        directory_collected,
        items,
        generated_at: state.clock.now(),
    })
}

fn until(at: Timestamp, days: Option<u32>) -> Option<Timestamp> {
    days.map(|d| Timestamp(at.millis() + i64::from(d) * DAY_MS))
}

/// The user's report as a printable HTML page.
pub fn user_report_html(rep: &UserReport) -> String {
    let u = &rep.user;
    let mut h = page_head("Personal data report of a user");
    h.push_str(&format!(
        "<h1>Personal data report</h1><p>User <code>{}</code> ({} {}, login {}), generated {}.</p>",
        u.id,
        esc(u.first_name.expose()),
        esc(u.last_name.expose()),
        esc(u.login.expose()),
        esc(&rep.generated_at.to_string())
    ));
    h.push_str("<h2>Master data</h2><ul>");
    for a in &u.addresses {
        h.push_str(&format!("<li>{}: {}</li>", esc(&format!("{:?}", a.kind).to_lowercase()), esc(a.value.expose())));
    }
    h.push_str(&format!(
        "<li>roles: {}</li><li>open sessions: {}</li><li>stations: {}</li><li>directory information collected: {}</li></ul>",
        esc(&rep.roles.join(", ")),
        rep.sessions,
        esc(&rep.stations.join(", ")),
        if rep.directory_collected { "yes" } else { "no" }
    ));
    h.push_str(&items_table(&rep.items));
    h.push_str("</body></html>");
    h
}
