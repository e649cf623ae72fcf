//! One conformance suite for both backends: SQLite always, PostgreSQL when
//! `CALLVAULT_POSTGRES_TEST_URL` is set (CI sets it; otherwise a skip notice is printed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

use callvault_model::access::{DefaultRole, Privilege, Scope};
use callvault_model::records::{
    AddressKind, Assignments, Capabilities, Grant, Grantee, Role, Service, ServiceKind, Skill, SkillLevel, Team,
    Tenant, TenantSettings, Timestamp,
};
use callvault_model::{GrantId, Personal, RoleId, ServiceId, SkillId, TeamId, TenantId, UserId};
use callvault_store::prelude::*;
use callvault_store::{
    AuditFilter, AuditInsert, AuditStore, ConflictKind, CredentialOwner, DirectoryStore, NewUser, Store, StoreError,
    TenantStore, classes::DataClass,
};
use sqlx::Row;

struct Db {
    url: String,
    admin: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

async fn databases() -> Vec<Db> {
    let dir = std::env::temp_dir().join(format!("cv-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut v =
        vec![Db { url: format!("sqlite:{}?mode=rwc", dir.join("t.db").display()), admin: None, dir: Some(dir) }];
    match std::env::var("CALLVAULT_POSTGRES_TEST_URL") {
        Ok(base) => {
            let schema = format!("cvstore_{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut c).await.unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            v.push(Db {
                url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                admin: Some((base, schema)),
                dir: None,
            });
        }
        Err(_) if std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_ok() => {
            panic!("CALLVAULT_REQUIRE_ALL_BACKENDS is set but CALLVAULT_POSTGRES_TEST_URL is not")
        }
        Err(_) => eprintln!("SKIP: PostgreSQL conformance run skipped: set CALLVAULT_POSTGRES_TEST_URL to run it"),
    }
    v
}

async fn cleanup(db: Db) {
    if let Some(d) = db.dir {
        let _ = std::fs::remove_dir_all(d);
    }
    if let Some((base, schema)) = db.admin {
        let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut c).await.unwrap();
    }
}

fn now() -> Timestamp {
    Timestamp(1_795_000_000_000)
}

fn tenant(slug: &str) -> Tenant {
    Tenant {
        id: TenantId::new(),
        slug: slug.into(),
        display_name: slug.into(),
        capabilities: Capabilities { encryption: true, ..Default::default() },
        settings: TenantSettings::default(),
        created_at: now(),
    }
}

fn new_user(t: TenantId, login: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        tenant_id: t,
        login: Personal::new(login.into()),
        login_key: Personal::new(login.to_lowercase()),
        first_name: Personal::new("Ada".into()),
        last_name: Personal::new("Example".into()),
        addresses: vec![(AddressKind::Email, Personal::new(format!("{login}@example.com")))],
        now: now(),
    }
}

/// Everything one tenant owns, to try reading it from the other.
struct Fixture {
    t: Tenant,
    user: UserId,
    team: TeamId,
    skill: SkillId,
    service: ServiceId,
    role: RoleId,
    grant: GrantId,
}

async fn fixture(store: &Store, slug: &str) -> Fixture {
    let t = tenant(slug);
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&t).await.unwrap();
    let u = new_user(t.id, "ada");
    tx.insert_user(&u).await.unwrap();
    tx.insert_credential(t.id, u.id, "$argon2id$hash", now()).await.unwrap();
    let team =
        Team { id: TeamId::new(), tenant_id: t.id, name: "Sales".into(), department_id: None, created_at: now() };
    tx.insert_team(&team).await.unwrap();
    let skill = Skill { id: SkillId::new(), tenant_id: t.id, name: "English".into(), created_at: now() };
    tx.insert_skill(&skill).await.unwrap();
    let service = Service {
        id: ServiceId::new(),
        tenant_id: t.id,
        name: "Care".into(),
        kind: ServiceKind::Inbound,
        created_at: now(),
    };
    tx.insert_service(&service).await.unwrap();
    tx.set_assignments(
        t.id,
        u.id,
        &Assignments {
            teams: vec![team.id],
            skills: vec![SkillLevel { skill_id: skill.id, level: 50 }],
            services: vec![service.id],
        },
    )
    .await
    .unwrap();
    let role = Role {
        id: RoleId::new(),
        tenant_id: t.id,
        name: DefaultRole::Agent.name().into(),
        description: String::new(),
        privileges: vec!["user:read:own".parse::<Privilege>().unwrap()],
        builtin: true,
        created_at: now(),
    };
    tx.insert_role(&role).await.unwrap();
    let grant = Grant {
        id: GrantId::new(),
        tenant_id: t.id,
        grantee: Grantee::User(u.id),
        role_id: role.id,
        scope: Scope::Tenant,
        created_at: now(),
    };
    tx.insert_grant(&grant).await.unwrap();
    tx.commit().await.unwrap();
    Fixture { t, user: u.id, team: team.id, skill: skill.id, service: service.id, role: role.id, grant: grant.id }
}

#[tokio::test]
async fn conformance() {
    for db in databases().await {
        eprintln!("conformance on {}", if db.admin.is_some() { "postgres" } else { "sqlite" });
        let store = Store::open(&db.url).await.unwrap();
        migrations_are_idempotent_and_downgrade_is_refused(&db.url, &store).await;
        tenant_isolation(&store).await;
        user_delete_removes_relations(&store).await;
        conflicts_and_rollback(&store).await;
        audit_rows(&store).await;
        tables_belong_to_classes(&store).await;
        store.close().await;
        cleanup(db).await;
    }
}

async fn migrations_are_idempotent_and_downgrade_is_refused(url: &str, store: &Store) {
    // Opening again applies nothing and succeeds.
    Store::open(url).await.unwrap().close().await;
    assert_eq!(
        callvault_store::current_version(store).await.unwrap(),
        callvault_store::MIGRATIONS.last().unwrap().version
    );
    // A database from a newer binary is refused.
    let mut tx = store.begin().await.unwrap();
    sqlx_exec(&mut tx, "INSERT INTO cv_migration (version, name, checksum, applied_at) VALUES (99, 'future', 'x', 0)")
        .await;
    tx.commit().await.unwrap();
    let err = Store::open(url).await.unwrap_err().to_string();
    assert!(err.contains("downgrades are refused"), "{err}");
    let mut tx = store.begin().await.unwrap();
    sqlx_exec(&mut tx, "DELETE FROM cv_migration WHERE version = 99").await;
    tx.commit().await.unwrap();
}

async fn sqlx_exec(tx: &mut callvault_store::Tx, sql: &'static str) {
    use callvault_store::Conn;
    sqlx::query(sql).execute(tx.conn()).await.unwrap();
}

async fn tenant_isolation(store: &Store) {
    let a = fixture(store, "alpha").await;
    let b = fixture(store, "beta").await;
    let mut r = store.reader().await.unwrap();
    let bt = b.t.id;
    // Every read of tenant A's objects with tenant B's id finds nothing.
    assert!(matches!(r.user(bt, a.user).await, Err(StoreError::NotFound)));
    assert!(matches!(r.team(bt, a.team).await, Err(StoreError::NotFound)));
    assert!(matches!(r.skill(bt, a.skill).await, Err(StoreError::NotFound)));
    assert!(matches!(r.service(bt, a.service).await, Err(StoreError::NotFound)));
    assert!(matches!(r.role(bt, a.role).await, Err(StoreError::NotFound)));
    assert!(matches!(r.grant(bt, a.grant).await, Err(StoreError::NotFound)));
    assert!(matches!(r.credential(CredentialOwner::User(bt, a.user)).await, Err(StoreError::NotFound)));
    assert!(matches!(r.user_id_by_login(bt, "nobody").await, Err(StoreError::NotFound)));
    assert!(r.users(bt).await.unwrap().iter().all(|u| u.tenant_id == bt));
    assert!(r.teams(bt).await.unwrap().iter().all(|t| t.tenant_id == bt));
    assert!(r.skills(bt).await.unwrap().iter().all(|t| t.tenant_id == bt));
    assert!(r.services(bt).await.unwrap().iter().all(|t| t.tenant_id == bt));
    assert!(r.roles(bt).await.unwrap().iter().all(|t| t.tenant_id == bt));
    assert!(r.grants(bt).await.unwrap().iter().all(|g| g.tenant_id == bt));
    assert!(r.grants_of(bt, Grantee::User(a.user)).await.unwrap().is_empty());
    assert_eq!(r.assignments(bt, a.user).await.unwrap(), Assignments::default());
    assert!(r.all_assignments(bt).await.unwrap().keys().all(|u| *u != a.user));
    assert!(r.team_members(bt, a.team).await.unwrap().is_empty());
    assert!(r.service_accounts(bt).await.unwrap().is_empty());
    drop(r);
    // Writes through tenant B's id touch nothing of tenant A.
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(tx.delete_user(bt, a.user).await, Err(StoreError::NotFound)));
    assert!(matches!(tx.rename_team(bt, a.team, "x").await, Err(StoreError::NotFound)));
    assert!(matches!(tx.delete_team(bt, a.team).await, Err(StoreError::NotFound)));
    assert!(matches!(tx.delete_skill(bt, a.skill).await, Err(StoreError::NotFound)));
    assert!(matches!(tx.delete_service(bt, a.service).await, Err(StoreError::NotFound)));
    assert!(matches!(tx.delete_grant(bt, a.grant).await, Err(StoreError::NotFound)));
    assert!(matches!(
        tx.set_login_state(CredentialOwner::User(bt, a.user), 5, None, None).await,
        Err(StoreError::NotFound)
    ));
    // Assigning tenant A's team to tenant B's user is refused: references stay inside a tenant.
    let bad = Assignments { teams: vec![a.team], ..Default::default() };
    assert!(matches!(tx.set_assignments(bt, b.user, &bad).await, Err(StoreError::NotFound)));
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let cross = Grant {
        id: GrantId::new(),
        tenant_id: bt,
        grantee: Grantee::User(b.user),
        role_id: a.role,
        scope: Scope::Tenant,
        created_at: now(),
    };
    assert!(matches!(tx.insert_grant(&cross).await, Err(StoreError::NotFound)));
    let cross = Grant {
        id: GrantId::new(),
        tenant_id: bt,
        grantee: Grantee::User(a.user),
        role_id: b.role,
        scope: Scope::Tenant,
        created_at: now(),
    };
    assert!(matches!(tx.insert_grant(&cross).await, Err(StoreError::NotFound)));
    tx.rollback().await.unwrap();
    let mut r = store.reader().await.unwrap();
    assert_eq!(r.user(a.t.id, a.user).await.unwrap().addresses.len(), 1);
    assert_eq!(r.team(a.t.id, a.team).await.unwrap().name, "Sales");
}

async fn user_delete_removes_relations(store: &Store) {
    let f = fixture(store, "gamma").await;
    let mut tx = store.begin().await.unwrap();
    tx.delete_user(f.t.id, f.user).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reader().await.unwrap();
    let t = f.t.id.to_string();
    let u = f.user.to_string();
    for table in ["dir_address", "cfg_team_member", "cfg_user_skill", "cfg_user_service", "cfg_grant", "cfg_credential"]
    {
        let sql = match table {
            "dir_address" => "SELECT COUNT(*) AS n FROM dir_address WHERE tenant_id = $1 AND user_id = $2",
            "cfg_team_member" => "SELECT COUNT(*) AS n FROM cfg_team_member WHERE tenant_id = $1 AND user_id = $2",
            "cfg_user_skill" => "SELECT COUNT(*) AS n FROM cfg_user_skill WHERE tenant_id = $1 AND user_id = $2",
            "cfg_user_service" => "SELECT COUNT(*) AS n FROM cfg_user_service WHERE tenant_id = $1 AND user_id = $2",
            "cfg_grant" => "SELECT COUNT(*) AS n FROM cfg_grant WHERE tenant_id = $1 AND user_id = $2",
            _ => "SELECT COUNT(*) AS n FROM cfg_credential WHERE tenant_id = $1 AND user_id = $2",
        };
        use callvault_store::Conn;
        let n: i64 =
            sqlx::query(sql).bind(t.clone()).bind(u.clone()).fetch_one(r.conn()).await.unwrap().try_get("n").unwrap();
        assert_eq!(n, 0, "{table} still holds rows of the deleted user");
    }
    // The team, skill and service themselves remain.
    r.team(f.t.id, f.team).await.unwrap();
    r.skill(f.t.id, f.skill).await.unwrap();
    r.service(f.t.id, f.service).await.unwrap();
    drop(r);
    // A team created inside a department is in it.
    let mut tx = store.begin().await.unwrap();
    let north = callvault_model::records::Department {
        id: callvault_model::DepartmentId::new(),
        tenant_id: f.t.id,
        name: "North".into(),
        created_at: now(),
    };
    tx.insert_department(&north).await.unwrap();
    let team = Team {
        id: TeamId::new(),
        tenant_id: f.t.id,
        name: "Field".into(),
        department_id: Some(north.id),
        created_at: now(),
    };
    tx.insert_team(&team).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reader().await.unwrap();
    assert_eq!(r.team(f.t.id, team.id).await.unwrap().department_id, Some(north.id));
    assert_eq!(r.department_teams(f.t.id, &[north.id]).await.unwrap(), [team.id]);
}

async fn conflicts_and_rollback(store: &Store) {
    let f = fixture(store, "delta").await;
    let mut tx = store.begin().await.unwrap();
    let dup =
        Team { id: TeamId::new(), tenant_id: f.t.id, name: "Sales".into(), department_id: None, created_at: now() };
    assert!(matches!(tx.insert_team(&dup).await, Err(StoreError::Conflict(ConflictKind::Duplicate))));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_user(&new_user(f.t.id, "ada")).await,
        Err(StoreError::Conflict(ConflictKind::Duplicate))
    ));
    drop(tx);
    // The same name in another tenant is fine.
    let other = fixture(store, "epsilon").await;
    assert_ne!(other.t.id, f.t.id);
    // A role still granted cannot be deleted, except builtin roles are protected anyway.
    let mut tx = store.begin().await.unwrap();
    let custom = Role {
        id: RoleId::new(),
        tenant_id: f.t.id,
        name: "custom".into(),
        description: String::new(),
        privileges: vec![],
        builtin: false,
        created_at: now(),
    };
    tx.insert_role(&custom).await.unwrap();
    tx.insert_grant(&Grant {
        id: GrantId::new(),
        tenant_id: f.t.id,
        grantee: Grantee::User(f.user),
        role_id: custom.id,
        scope: Scope::Tenant,
        created_at: now(),
    })
    .await
    .unwrap();
    assert!(matches!(tx.delete_role(f.t.id, custom.id).await, Err(StoreError::Conflict(ConflictKind::Reference))));
    drop(tx);
    // A dropped transaction leaves nothing behind.
    let mut r = store.reader().await.unwrap();
    assert!(matches!(r.role_by_name(f.t.id, "custom").await, Err(StoreError::NotFound)));
    assert_eq!(r.teams(f.t.id).await.unwrap().len(), 1);
}

async fn audit_rows(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    let entries: Vec<String> = (0..450).map(|i| format!("{{\"i\":{i}}}")).collect();
    let inserts: Vec<AuditInsert<'_>> =
        entries.iter().map(|b| AuditInsert { tenant_id: None, action: "test.batch", created_at: 1, body: b }).collect();
    tx.append_audit_batch(&inserts).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let head = tx.lock_audit_head().await.unwrap();
    let rows = tx.unsequenced_audit(10_000).await.unwrap();
    assert!(rows.len() >= 450);
    let leaves: Vec<(i64, i64, Vec<u8>)> =
        rows.iter().enumerate().map(|(i, r)| (r.seq, head.tree_size + i as i64, vec![i as u8; 32])).collect();
    tx.assign_audit_leaves(&leaves).await.unwrap();
    // Sequencing the same entries twice is refused.
    assert!(tx.assign_audit_leaves(&leaves[..1]).await.is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.assign_audit_leaves(&leaves).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reader().await.unwrap();
    assert_eq!(r.unsequenced_audit_count().await.unwrap(), 0);
    assert_eq!(r.audit_entries(AuditFilter::Provider, 0, 1000).await.unwrap().len(), leaves.len());
    assert_eq!(r.leaf_hashes(leaves.len() as i64).await.unwrap().len(), leaves.len());
}

async fn tables_belong_to_classes(store: &Store) {
    let mut r = store.reader().await.unwrap();
    use callvault_store::Conn;
    let sql = match store.backend() {
        callvault_store::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        callvault_store::Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let rows = sqlx::query(sql).fetch_all(r.conn()).await.unwrap();
    assert!(rows.len() > 10);
    let mut names = Vec::new();
    for row in rows {
        let name: String = row.try_get("name").unwrap();
        assert!(name.starts_with("cv_") || DataClass::of_table(&name).is_some(), "table {name} has no data class");
        if !name.starts_with("cv_") {
            names.push(name);
        }
    }
    // Every table says which personal data it holds (or why none), and the list names no table
    // the schema lacks: a new table fails here until it is mapped.
    for name in &names {
        assert!(callvault_store::personal::holds(name).is_some(), "table {name} is not in store::personal::TABLES");
    }
    for (table, _) in callvault_store::personal::TABLES {
        assert!(names.iter().any(|n| n == table), "store::personal::TABLES lists {table}, which the schema lacks");
    }
    for category in callvault_model::personal::Category::ALL {
        assert!(
            callvault_store::personal::tables_of(*category).next().is_some()
                || *category == callvault_model::personal::Category::Reporting,
            "no table holds {category}"
        );
    }
}
