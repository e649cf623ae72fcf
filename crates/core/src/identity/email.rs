//! One-time codes by e-mail: confirming an address of the user's directory entry, and the
//! code that completes a login after the step-up.

use super::*;

/// Purpose of one-time codes that complete a login after the step-up.
pub(super) const LOGIN_CODE: &str = "login";
/// Purpose of one-time codes that confirm an e-mail address.
pub(super) const CONFIRM_CODE: &str = "confirm_email";
/// How long an e-mailed code is valid (milliseconds).
pub(super) const CODE_LIFETIME_MS: i64 = 10 * 60_000;

/// The stored digest of a one-time code (digits only, so spaces or dashes typed do not matter).
pub(super) fn code_digest(code: &str) -> String {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    hex::encode(callvault_crypto::digest::sha256(digits.as_bytes()))
}

/// Stores a fresh 6-digit code (CSPRNG) and e-mails it after the answer has gone, so the answer's
/// timing reveals nothing about the account.
pub(super) async fn send_code(
    state: &Services,
    principal: PrincipalId,
    purpose: &'static str,
    target: Option<&str>,
    address: String,
    now: Timestamp,
) -> Result<(), IdentityError> {
    let bytes = callvault_crypto::digest::random_bytes(4);
    let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 1_000_000;
    let code = SecretString::new(format!("{n:06}"));
    let mut tx = state.store.begin().await?;
    tx.put_one_time_code(principal, purpose, &code_digest(code.expose()), target, now.millis() + CODE_LIFETIME_MS)
        .await?;
    tx.commit().await?;
    let state = state.clone();
    tokio::spawn(async move {
        let (subject, what) = match purpose {
            LOGIN_CODE => ("Your callvault sign-in code", "to finish signing in after several failed attempts"),
            _ => ("Confirm your e-mail address for callvault", "to confirm this address for your account"),
        };
        let body = format!(
            "Your one-time code {what} is {}. It is valid for 10 minutes and works once.\n\nIf you did not ask for \
             it, someone may know your password: change it and tell your security officer.",
            code.expose()
        );
        notify::email_to(&state, &address, subject, &body).await;
    });
    Ok(())
}

/// Sends a code to one of the user's own e-mail addresses; the address becomes the one login
/// codes go to when the code comes back ([`finish_email_confirmation`]).
pub async fn begin_email_confirmation(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    address: &str,
) -> Result<(), IdentityError> {
    if state.config.smtp_url.is_none() {
        return Err(IdentityError::MailNotConfigured);
    }
    let record = state.store.reader().await?.user(tenant, user).await?;
    let wanted = address.trim().to_lowercase();
    let own = record
        .addresses
        .iter()
        .find(|a| a.kind == callvault_model::records::AddressKind::Email && a.value.expose().to_lowercase() == wanted);
    let Some(own) = own else {
        return Err(IdentityError::NotYourAddress);
    };
    let address = own.value.expose().clone();
    let now = state.clock.now();
    send_code(state, PrincipalId::User(user), CONFIRM_CODE, Some(&address), address.clone(), now).await?;
    let event =
        AuditEvent::new(Some(tenant), Actor::Principal(PrincipalId::User(user)), "auth.email_confirmation_sent")
            .target("user", user);
    Ok(state.auditor.record_now(now, &event).await?)
}

/// Confirms the address a code was sent to.
pub async fn finish_email_confirmation(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    code: &SecretString,
) -> Result<(), IdentityError> {
    let now = state.clock.now();
    let principal = PrincipalId::User(user);
    let mut tx = state.store.begin().await?;
    let Some(Some(address)) =
        tx.take_one_time_code(principal, CONFIRM_CODE, &code_digest(code.expose()), now.millis()).await?
    else {
        return Err(IdentityError::CodeWrongOrExpired);
    };
    tx.set_confirmed_email(tenant, user, Some(&address)).await?;
    let event = AuditEvent::new(Some(tenant), Actor::Principal(principal), "auth.email_confirmed").target("user", user);
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}
