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

/// Confirms enrolment with a first valid code; returns recovery codes (shown once). The session
/// that enrolled is upgraded to a full session.
pub async fn confirm_totp_enrollment(
    state: &Services,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    session: Option<SessionId>,
    code: &SecretString,
) -> Result<Vec<String>, IdentityError> {
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
    if let Some(session) = session {
        // The enrolment-only session becomes a full one: the holder just proved both factors.
        tx.revoke_sessions_of(principal, Some(session), now.millis()).await?;
        upgrade_session(&mut tx, session).await?;
    }
    let event =
        AuditEvent::new(tenant, Actor::Principal(principal), "auth.totp_enrolled").target("principal", principal);
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(codes.into_iter().map(|(c, _)| c).collect())
}

pub(super) async fn upgrade_session(tx: &mut Tx, session: SessionId) -> Result<(), IdentityError> {
    Ok(tx.upgrade_session(session).await?)
}
