//! TOTP enrolment (RFC 6238): a new seed wrapped by the KEK, confirmed by a first code.

use super::*;

/// Starts TOTP enrolment: stores a new wrapped seed (not yet enrolled) and returns the URI.
pub async fn begin_totp_enrollment(
    state: &Services,
    principal: PrincipalId,
    tenant: Option<TenantId>,
) -> Result<(String, String), IdentityError> {
    let owner = credential_owner(principal, tenant)?;
    let seed = TotpSeed::generate();
    let wrapped = state.kek.wrap(totp_aad(principal).as_bytes(), seed.expose()).map_err(IdentityError::internal)?;
    let mut tx = state.store.begin().await?;
    let cred = tx.credential(owner).await?;
    if cred.totp_enrolled {
        return Err(IdentityError::TotpAlreadyEnrolled);
    }
    tx.set_totp(owner, Some(&wrapped), false).await?;
    let event =
        AuditEvent::new(tenant, Actor::Principal(principal), "auth.totp_enroll_started").target("principal", principal);
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    let uri = totp::otpauth_uri(&seed, "callvault", &principal.uuid().to_string());
    let secret = base32_of(&seed);
    Ok((uri, secret))
}

pub(super) fn base32_of(seed: &TotpSeed) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = seed.expose();
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// What confirming enrolment gives: the recovery codes (shown once) and, when a session
/// enrolled, the full session that replaces it.
#[derive(Debug)]
pub struct Enrolled {
    /// Each usable once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
    /// The new full session (its token is shown once); the enrolment session is revoked.
    pub session: Option<LoginResponse>,
}

/// Confirms enrolment with a first valid code; returns recovery codes (shown once). The
/// enrolment-only session is revoked and a full session with a new token replaces it (OWASP:
/// a new session id when the privilege level changes, so a token seen before the second factor
/// never becomes a full session); every other session of the principal ends.
pub async fn confirm_totp_enrollment(
    state: &Services,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    session: Option<SessionId>,
    code: &SecretString,
) -> Result<Enrolled, IdentityError> {
    let owner = credential_owner(principal, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let cred = tx.credential(owner).await?;
    if cred.totp_enrolled {
        return Err(IdentityError::TotpAlreadyEnrolled);
    }
    let Some(wrapped) = &cred.totp_seed else {
        return Err(IdentityError::EnrolmentNotStarted);
    };
    let seed = unwrap_totp_seed(state, principal, wrapped)?;
    let secs = u64::try_from(now.millis() / 1000).unwrap_or(0);
    let TotpCheck::Valid { step } = totp::verify(&seed, code.expose(), secs, None) else {
        return Err(IdentityError::TotpMismatch);
    };
    tx.set_totp(owner, Some(wrapped), true).await?;
    tx.advance_totp_step(owner, i64::try_from(step).unwrap_or(i64::MAX)).await?;
    let codes = totp::new_recovery_codes(10);
    if let CredentialOwner::User(t, u) = owner {
        let digests: Vec<String> = codes.iter().map(|(_, d)| hex::encode(d)).collect();
        tx.replace_recovery_codes(t, u, &digests).await?;
    }
    let mut replaced = None;
    if let Some(old) = session {
        let old = tx.session_by_id(old).await?;
        tx.revoke_sessions_of(principal, None, now.millis()).await?;
        let token = new_token(SESSION_TOKEN_PREFIX);
        let full = SessionRow {
            token_digest: hex::encode(token.digest),
            id: SessionId::new(),
            purpose: SessionPurpose::Full.as_str().into(),
            second_factor: true,
            created_at: now.millis(),
            last_seen_at: now.millis(),
            revoked_at: None,
            // The same absolute end as the session it replaces: enrolling does not extend it.
            ..old
        };
        tx.insert_session(&full).await?;
        replaced = Some(LoginResponse {
            token: token.token.expose().to_owned(),
            session_id: full.id,
            expires_at: Timestamp(full.expires_at),
            purpose: full.purpose.clone(),
            principal: principal.to_string(),
        });
    }
    let mut event =
        AuditEvent::new(tenant, Actor::Principal(principal), "auth.totp_enrolled").target("principal", principal);
    if let Some(r) = &replaced {
        event = event.target("session", r.session_id);
    }
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(Enrolled { recovery_codes: codes.into_iter().map(|(c, _)| c).collect(), session: replaced })
}
