//! Passwords: hashing a new one under the tenant's rules with the user's context words, and
//! re-authentication (password and second factor) under the login throttle.

use super::*;

/// Creates a session for a principal directly (bootstrap and tests use login instead).
pub fn credential_owner(principal: PrincipalId, tenant: Option<TenantId>) -> Result<CredentialOwner, IdentityError> {
    match (principal, tenant) {
        (PrincipalId::Operator(o), None) => Ok(CredentialOwner::Operator(o)),
        (PrincipalId::User(u), Some(t)) => Ok(CredentialOwner::User(t, u)),
        _ => Err(IdentityError::NoCredentials),
    }
}

/// Hashes a new password after checking it against the rules (NIST 800-63B).
pub async fn new_password_hash(
    password: &SecretString,
    rules: &PasswordRules,
    context: &[&str],
) -> Result<String, IdentityError> {
    check_new_password(password.expose(), rules, context).map_err(|e| IdentityError::WeakPassword(e.to_string()))?;
    let normalized = normalize(password.expose());
    tokio::task::spawn_blocking(move || hash_password(&normalized))
        .await
        .map_err(IdentityError::internal)?
        .map_err(IdentityError::internal)
}

/// The words a principal's password must not be built on: login, names, e-mail addresses, and the
/// tenant's slug and name (NIST SP 800-63B 5.1.1.2, context-specific words).
pub async fn password_context(
    tx: &mut Tx,
    principal: PrincipalId,
    tenant: Option<TenantId>,
) -> Result<Vec<String>, callvault_store::StoreError> {
    let mut words = Vec::new();
    if let Some(t) = tenant {
        let tenant = tx.tenant(t).await?;
        words.push(tenant.slug.clone());
        words.push(tenant.display_name.clone());
    }
    match principal {
        PrincipalId::User(u) => {
            if let Some(t) = tenant {
                let user = tx.user(t, u).await?;
                words.extend(user_words(&user));
            }
        }
        PrincipalId::Operator(op) => {
            if let Some((_, login, _)) = tx.operators().await?.into_iter().find(|(id, _, _)| *id == op) {
                words.push(login);
            }
        }
        PrincipalId::ServiceAccount(_) => {}
    }
    Ok(words)
}

/// A user's own context words: login, names and e-mail addresses.
pub fn user_words(user: &callvault_model::records::User) -> Vec<String> {
    let mut words =
        vec![user.login.expose().clone(), user.first_name.expose().clone(), user.last_name.expose().clone()];
    words.extend(
        user.addresses
            .iter()
            .filter(|a| a.kind == callvault_model::records::AddressKind::Email)
            .map(|a| a.value.expose().clone()),
    );
    words
}

/// Password rules of a tenant (operators use the defaults).
pub async fn password_rules(
    tx: &mut Tx,
    tenant: Option<TenantId>,
) -> Result<PasswordRules, callvault_store::StoreError> {
    let mut rules = PasswordRules::default();
    if let Some(t) = tenant {
        let tenant = tx.tenant(t).await?;
        rules.min_length = rules.min_length.max(usize::from(tenant.settings.password_min_length));
    }
    Ok(rules)
}

/// Verifies a principal's current password (re-authentication before sensitive operations),
/// under the same throttle, failure count and alerts as logins.
pub async fn verify_current_password(
    state: &Services,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    password: &SecretString,
) -> Result<(), IdentityError> {
    let owner = credential_owner(principal, tenant)?;
    let mut r = state.store.reader().await?;
    let cred = r.credential(owner).await?;
    let alert_threshold = match tenant {
        Some(t) => r.tenant(t).await?.settings.failed_login_alert_threshold,
        None => callvault_model::records::TenantSettings::default().failed_login_alert_threshold,
    };
    drop(r);
    let now = state.clock.now();
    let before = FailureState {
        failures: cred.failures,
        last_failure_ms: cred.last_failure_at,
        locked_until_ms: cred.locked_until,
    };
    let pw = normalize(password.expose());
    if !throttle::gate_scaled(&before, now.millis(), state.config.danger_test_login_delay_divisor).is_open() {
        burn_verify(pw).await;
        return Err(IdentityError::ReauthenticationFailed);
    }
    let hash = cred.password_hash.clone();
    match tokio::task::spawn_blocking(move || verify_password(&hash, &pw)).await.map_err(IdentityError::internal)? {
        PasswordCheck::Valid { .. } => Ok(()),
        PasswordCheck::Invalid => {
            let target = FailureTarget { owner, principal, tenant, alert_threshold };
            let origin = state.auditor.origin(None, None);
            record_failure_of(state, &target, &before, now, origin, "auth.reauthenticate", "wrong_password").await?;
            Err(IdentityError::ReauthenticationFailed)
        }
    }
}

/// Re-authentication for ceremonies: the current password and a fresh TOTP code (each code
/// usable once). Accounts without TOTP cannot act as custodians. Every failure answers the same.
pub async fn reauthenticate(
    state: &Services,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    password: &SecretString,
    code: &SecretString,
) -> Result<(), IdentityError> {
    let owner = credential_owner(principal, tenant)?;
    verify_current_password(state, principal, tenant, password).await?;
    let cred = state.store.reader().await?.credential(owner).await?;
    let (true, Some(wrapped)) = (cred.totp_enrolled, &cred.totp_seed) else {
        return Err(IdentityError::TotpRequired);
    };
    let seed = unwrap_totp_seed(state, principal, wrapped)?;
    let last = cred.totp_last_step.and_then(|s| u64::try_from(s).ok());
    let now = state.clock.now();
    let secs = u64::try_from(now.millis() / 1000).unwrap_or(0);
    let fresh = match totp::verify(&seed, code.expose(), secs, last) {
        TotpCheck::Valid { step } => {
            let mut tx = state.store.begin().await?;
            let fresh = tx.advance_totp_step(owner, i64::try_from(step).unwrap_or(i64::MAX)).await?;
            tx.commit().await?;
            fresh
        }
        TotpCheck::Replayed | TotpCheck::Invalid => false,
    };
    if fresh {
        return Ok(());
    }
    let before = FailureState {
        failures: cred.failures,
        last_failure_ms: cred.last_failure_at,
        locked_until_ms: cred.locked_until,
    };
    let alert_threshold = callvault_model::records::TenantSettings::default().failed_login_alert_threshold;
    let target = FailureTarget { owner, principal, tenant, alert_threshold };
    let origin = state.auditor.origin(None, None);
    record_failure_of(state, &target, &before, now, origin, "auth.reauthenticate", "wrong_second_factor").await?;
    Err(IdentityError::ReauthenticationFailed)
}
