//! Do-not-call look-ups at national scale: callvault's `CompactSet` holding 258.5 million
//! synthetic NANP numbers (the size of the US registry) against the same look-ups on an indexed
//! PostgreSQL table (a 10 M subset: loading 258.5 M rows would take this machine most of an
//! hour and ~15 GB; the subset's figures are scaled honestly in BENCHMARKS.md, and the compact
//! set of the same subset is measured beside it).
//!
//! `CALLVAULT_POSTGRES_TEST_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p callvault-server --bench dnc -- [numbers] [pg_subset]`
//!
//! Numbers: 258,500,000 keys spread evenly (random gaps) over +1 200 000 0000 … +1 999 999 9999;
//! then the same count drawn independently (Poisson bucket counts), then keys clustered by
//! exchange (half the 10,000-number NPA-NXX blocks empty, the others at a density drawn evenly
//! between 0 and four times the mean), and a 200,000-number set that stays in cache (the
//! computation alone). Probes: 2,000,000, half members, half random NANP numbers. Latency is wall time per look-up
//! over the probe loop (independent look-ups) and over a chain where each look-up's key depends
//! on the previous answer (no overlap between look-ups).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use std::time::Instant;

use callvault_policy::dnc::CompactSet;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const LOW: u64 = 12_000_000_000;
const SPAN: u64 = 8_000_000_000;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Builds a set of `keys`, looks them up, and prints one line.
fn report(label: &str, keys: &[u64], generated: std::time::Duration, generation: &str, seed: u64) {
    let t = Instant::now();
    let set = CompactSet::from_sorted(keys).expect("sorted keys");
    let build = t.elapsed();
    let p = probes(keys, 2_000_000, seed);
    let (ind, chain, hits) = measure(&set, &p);
    println!(
        "compact set, {label}: {} numbers, {:.3} bytes/number, built in {:.2} s ({generation} {:.2} s); look-up {ind:.0} ns independent, {chain:.0} ns chained ({hits} hits of {}); {} keys ({:.3} %) in the overflow set",
        set.len(),
        set.heap_bytes() as f64 / keys.len() as f64,
        build.as_secs_f64(),
        generated.as_secs_f64(),
        p.len(),
        set.overflow_len(),
        set.overflow_len() as f64 * 100.0 / keys.len() as f64
    );
}

fn huge_mib() -> f64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn probes(keys: &[u64], n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                keys[(splitmix(&mut s) % keys.len() as u64) as usize]
            } else {
                LOW + splitmix(&mut s) % SPAN
            }
        })
        .collect()
}

fn measure(set: &CompactSet, probes: &[u64]) -> (f64, f64, usize) {
    // Warm the page tables once, then time.
    let hits = probes.iter().filter(|&&p| set.contains(p)).count();
    let t = Instant::now();
    let again = probes.iter().filter(|&&p| set.contains(p)).count();
    let independent = t.elapsed().as_nanos() as f64 / probes.len() as f64;
    assert_eq!(hits, again);
    let t = Instant::now();
    let mut acc = 0u64;
    for &p in probes {
        acc += u64::from(set.contains(p ^ (acc & 1)));
    }
    let chained = t.elapsed().as_nanos() as f64 / probes.len() as f64;
    std::hint::black_box(acc);
    (independent, chained, hits)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(258_500_000);
    let subset: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    println!("dnc bench: {n} numbers, PostgreSQL subset {subset}");

    let rss0 = rss_mib();
    let t = Instant::now();
    let mut s = 2025;
    let avg = SPAN / n;
    let mut keys = Vec::with_capacity(n as usize);
    let mut k = LOW;
    for _ in 0..n {
        k += 1 + splitmix(&mut s) % (2 * avg - 1);
        keys.push(k);
    }
    let generated = t.elapsed();
    let t = Instant::now();
    let set = CompactSet::from_sorted(&keys).expect("sorted keys");
    let build = t.elapsed();
    let bytes = set.heap_bytes();
    println!(
        "compact set: {} numbers, {:.1} MiB, {:.3} bytes/number, built in {:.2} s from sorted keys (generation {:.2} s)",
        set.len(),
        bytes as f64 / 1048576.0,
        bytes as f64 / n as f64,
        build.as_secs_f64(),
        generated.as_secs_f64()
    );
    let dir = std::env::temp_dir().join(format!("cv-dnc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = Instant::now();
    let id = callvault_model::DncListId::new();
    let sha = callvault_core::dial::write_set(&dir, id, &set).unwrap();
    let write = t.elapsed();
    let file = dir.join(format!("{id}-{sha}.cvdnc"));
    let t = Instant::now();
    let loaded =
        CompactSet::read_from(&mut std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&file).unwrap()))
            .unwrap();
    let load = t.elapsed();
    assert_eq!(loaded.len(), set.len());
    drop(loaded);
    println!(
        "persisted: {:.1} MiB written (with SHA-256, fsync) in {:.2} s; read back in {:.2} s (no rebuild)",
        std::fs::metadata(&file).unwrap().len() as f64 / 1048576.0,
        write.as_secs_f64(),
        load.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
    let p = probes(&keys, 2_000_000, 7);
    let (ind, chain, hits) = measure(&set, &p);
    println!(
        "compact set look-up ({n}): {ind:.0} ns independent, {chain:.0} ns chained ({hits} hits of {}); {} keys in the overflow set",
        p.len(),
        set.overflow_len()
    );
    println!(
        "process RSS: {:.0} MiB before, {:.0} MiB with keys and set; {:.0} MiB of anonymous memory in huge pages",
        rss0,
        rss_mib(),
        huge_mib()
    );
    // The arithmetic alone: the same look-ups in a set small enough to stay in the core's cache.
    let small: Vec<u64> = keys.iter().take(200_000).copied().collect();
    let small_set = CompactSet::from_sorted(&small).unwrap();
    let sp = probes(&small, 2_000_000, 9);
    let (ind, chain, _) = measure(&small_set, &sp);
    println!(
        "compact set look-up, 200,000 numbers (cache-resident: computation only): {ind:.0} ns independent, {chain:.0} ns chained"
    );

    // The subset: every (n / subset)-th number.
    let step = (n / subset).max(1) as usize;
    let sub: Vec<u64> = keys.iter().step_by(step).copied().take(subset as usize).collect();
    drop(keys);
    drop(set);

    // The same count drawn independently (bucket counts vary as Poisson, as a real registry's
    // would at least): sorted, duplicates dropped.
    let t = Instant::now();
    let mut keys: Vec<u64> = (0..n + n / 30).map(|_| LOW + splitmix(&mut s) % SPAN).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.truncate(n as usize);
    report("independent random keys", &keys, t.elapsed(), "generation and sort", 8);
    drop(keys);

    // Clustered by exchange, as a real registry is: half the 10,000-number exchanges (NPA-NXX)
    // hold no registered number, the others a density drawn evenly between 0 and four times the
    // mean, so the whole holds the same count.
    let t = Instant::now();
    let mean = n as f64 / SPAN as f64;
    let mut keys: Vec<u64> = Vec::with_capacity(n as usize + n as usize / 10);
    let mut state = 77u64;
    for exchange in 0..SPAN / 10_000 {
        if splitmix(&mut state).is_multiple_of(2) {
            continue;
        }
        let density = (splitmix(&mut state) % 1_000_000) as f64 / 1_000_000.0 * 4.0 * mean;
        let threshold = (density * u64::MAX as f64) as u64;
        for i in 0..10_000u64 {
            if splitmix(&mut state) < threshold {
                keys.push(LOW + exchange * 10_000 + i);
            }
        }
    }
    report("keys clustered by exchange", &keys, t.elapsed(), "generation", 10);
    drop(keys);
    let sub_set = CompactSet::from_sorted(&sub).unwrap();
    let sp = probes(&sub, 200_000, 11);
    let (sind, schain, shits) = measure(&sub_set, &sp);
    println!(
        "compact set ({} subset): {:.3} bytes/number, {sind:.0} ns independent, {schain:.0} ns chained ({shits} hits)",
        sub.len(),
        sub_set.heap_bytes() as f64 / sub.len() as f64
    );

    let Ok(url) = std::env::var("CALLVAULT_POSTGRES_TEST_URL") else {
        println!("SKIP: postgres (set CALLVAULT_POSTGRES_TEST_URL)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        use sqlx::{Connection, Executor, Row};
        let mut c = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
        c.execute("DROP TABLE IF EXISTS cv_dnc_bench").await.unwrap();
        c.execute("CREATE UNLOGGED TABLE cv_dnc_bench (number BIGINT NOT NULL)").await.unwrap();
        let t = Instant::now();
        let mut copy = c.copy_in_raw("COPY cv_dnc_bench (number) FROM STDIN").await.unwrap();
        let mut buf = String::with_capacity(1 << 22);
        for chunk in sub.chunks(200_000) {
            buf.clear();
            for k in chunk {
                buf.push_str(&k.to_string());
                buf.push('\n');
            }
            copy.send(buf.as_bytes()).await.unwrap();
        }
        copy.finish().await.unwrap();
        let loaded = t.elapsed();
        let t = Instant::now();
        c.execute("ALTER TABLE cv_dnc_bench ADD PRIMARY KEY (number)").await.unwrap();
        c.execute("VACUUM ANALYZE cv_dnc_bench").await.unwrap();
        let indexed = t.elapsed();
        let size: i64 = sqlx::query("SELECT pg_total_relation_size('cv_dnc_bench')").fetch_one(&mut c).await.unwrap().get(0);
        println!(
            "postgres ({} subset): COPY {:.1} s + primary key {:.1} s; {:.1} MiB table+index = {:.1} bytes/number",
            sub.len(),
            loaded.as_secs_f64(),
            indexed.as_secs_f64(),
            size as f64 / 1048576.0,
            size as f64 / sub.len() as f64
        );
        let q = "SELECT EXISTS (SELECT 1 FROM cv_dnc_bench WHERE number = $1)";
        for &p in sp.iter().take(2000) {
            let _: bool = sqlx::query(q).bind(p as i64).fetch_one(&mut c).await.unwrap().get(0);
        }
        let t = Instant::now();
        let mut pg_hits = 0usize;
        let count = 50_000;
        for &p in sp.iter().take(count) {
            let hit: bool = sqlx::query(q).bind(p as i64).fetch_one(&mut c).await.unwrap().get(0);
            pg_hits += usize::from(hit);
        }
        let per = t.elapsed().as_nanos() as f64 / count as f64;
        let ours = sp.iter().take(count).filter(|&&p| sub_set.contains(p)).count();
        assert_eq!(pg_hits, ours, "PostgreSQL and the compact set agree");
        println!("postgres look-up (prepared statement, one connection, loopback): {per:.0} ns each ({pg_hits} hits of {count}; the compact set agrees)");
        c.execute("DROP TABLE cv_dnc_bench").await.unwrap();
    });
}
