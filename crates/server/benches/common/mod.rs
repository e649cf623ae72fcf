//! What the server benches share: the databases to run on.

/// SQLite in `dir`, and PostgreSQL in a fresh schema when CALLVAULT_POSTGRES_TEST_URL is set
/// (otherwise a skip notice).
pub fn database_urls(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![("sqlite", format!("sqlite:{}?mode=rwc", dir.join("bench.db").display()))];
    if let Ok(base) = std::env::var("CALLVAULT_POSTGRES_TEST_URL") {
        let schema = format!("cvbench_{}", uuid::Uuid::new_v4().simple());
        rt.block_on(async {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut c = sqlx::AnyConnection::connect(&base).await.expect("PostgreSQL from CALLVAULT_POSTGRES_TEST_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut c)
                .await
                .expect("a fresh schema");
        });
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push(("postgres", format!("{base}{sep}options=-c%20search_path%3D{schema}")));
    } else {
        println!("SKIP: postgres (set CALLVAULT_POSTGRES_TEST_URL)");
    }
    urls
}
