//! `database_credentials = "openbao"`: the server logs in to PostgreSQL as short-lived
//! users from OpenBao's database secrets engine and rotates its pool to fresh ones before
//! they expire, without failing a request.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use planbok_testkit::cluster::SERVER;

use crate::rest::{Custody, Stack, idem};

const TOKEN: &str = "planbok-test-root";

struct Bao(Child);

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bao_available() -> bool {
    let ok = Command::new("bao")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("PLANBOK_REQUIRE_BAO").is_err(),
            "`bao` is required (PLANBOK_REQUIRE_BAO) but not on PATH"
        );
        eprintln!("SKIPPED: `bao` not on PATH");
    }
    ok
}

fn bao(addr: &str, args: &[&str]) {
    let out = Command::new("bao")
        .args(args)
        .env("BAO_ADDR", addr)
        .env("BAO_TOKEN", TOKEN)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bao {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_signs_for_two_minutes_while_its_database_user_rotates() {
    let Some(base) = crate::common::postgres_or_skip() else {
        return;
    };
    if !bao_available() {
        return;
    }
    let mut s = Stack::start(base, Custody::Standard, "").await;
    let set = s.wallet_set("dkls23", false);
    let wallet = s.wallets(&set.id, &["SOL-DEVNET"], 1, false).remove(0).id;

    // The schema gets an owner role that outlives every issued user.
    let db_url = s.cluster.node(SERVER).database_url.clone();
    let db = db_url.rsplit('/').next().unwrap().to_owned();
    let owner = format!("{db}_owner");
    psql(
        &db_url,
        &format!(
            "CREATE ROLE \"{owner}\" NOLOGIN; GRANT ALL ON SCHEMA public TO \"{owner}\"; \
             DO $$ DECLARE r record; BEGIN \
               FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP \
                 EXECUTE format('ALTER TABLE public.%I OWNER TO %I', r.tablename, '{owner}'); \
               END LOOP; END $$;"
        ),
    );

    // OpenBao issues users of that role, for 30 s each.
    let addr = format!("http://127.0.0.1:{}", crate::common::free_port());
    let _bao = Bao(Command::new("bao")
        .args([
            "server",
            "-dev",
            &format!("-dev-root-token-id={TOKEN}"),
            &format!("-dev-listen-address={}", addr.trim_start_matches("http://")),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(&format!("{addr}/v1/sys/health")).call().is_err() {
        assert!(Instant::now() < deadline, "OpenBao did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    bao(&addr, &["secrets", "enable", "database"]);
    bao(
        &addr,
        &[
            "write",
            "database/config/planbok",
            "plugin_name=postgresql-database-plugin",
            // Roles are cluster-wide: OpenBao's own connection is to another database, so
            // every connection to the server's is the server's.
            "connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable",
            "username=postgres",
            "password=unused-with-trust-auth",
            "allowed_roles=server",
        ],
    );
    bao(
        &addr,
        &[
            "write",
            "database/roles/server",
            "db_name=planbok",
            &format!(
                "creation_statements=CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE \"{owner}\";"
            ),
            "default_ttl=30s",
            "max_ttl=60s",
        ],
    );

    // The server restarts on OpenBao's users.
    let dir = s.cluster.dir.path().to_owned();
    std::fs::write(dir.join("bao.token"), TOKEN).unwrap();
    let config = s.cluster.node(SERVER).config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "database_credentials = \"openbao\"\n{text}\n[database_openbao]\naddress = \"{addr}\"\n\
             token_file = \"bao.token\"\nrole = \"server\"\nset_role = \"{owner}\"\n"
        ),
    )
    .unwrap();
    s.cluster.restart(SERVER).await.unwrap();

    // Two minutes of signing from three clients: not one failure.
    let started = Instant::now();
    let (ok, failed) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (s, wallet) = (&s, &wallet);
                scope.spawn(move || {
                    let (mut ok, mut failed) = (0u32, Vec::new());
                    while started.elapsed() < Duration::from_secs(120) {
                        let (status, body) = s.post(
                            "/v2/organization/sign/message",
                            json!({"idempotencyKey": idem(), "walletId": wallet, "message": "rotating"}),
                        );
                        if status == 200 {
                            ok += 1;
                        } else {
                            failed.push((status, body["code"].clone()));
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    (ok, failed)
                })
            })
            .collect();
        handles.into_iter().fold((0, Vec::new()), |(o, mut f), h| {
            let (ok, failed) = h.join().unwrap();
            f.extend(failed);
            (o + ok, f)
        })
    });
    let log = std::fs::read_to_string(&s.cluster.node(SERVER).log).unwrap();
    assert!(
        failed.is_empty(),
        "{failed:?}\n{}",
        s.cluster.log_tail(SERVER)
    );
    assert!(ok > 100, "{ok}");
    let rotations = log.matches("rotated to a new database user").count();
    assert!(
        rotations >= 2,
        "{rotations} rotations\n{}",
        s.cluster.log_tail(SERVER)
    );
    // Every connection of the server is an issued user's; the first users are gone.
    let users = psql(
        &db_url,
        &format!(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
    );
    assert!(
        !users.trim().is_empty() && users.lines().all(|u| u.starts_with("v-")),
        "{users}"
    );
    // The users still issued: members of this test's owner role.
    let issued = psql(
        &db_url,
        &format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles o ON o.oid = m.roleid \
             WHERE o.rolname = '{owner}'"
        ),
    );
    let issued: usize = issued.trim().parse().unwrap();
    assert!(
        issued <= 3,
        "{issued} issued users still exist after {rotations} rotations: revocation does not run"
    );
    // Leave no login behind (roles outlive the test's database).
    drop(s);
    let _ = Command::new("bao")
        .args(["lease", "revoke", "-force", "-prefix", "database/creds/"])
        .env("BAO_ADDR", &addr)
        .env("BAO_TOKEN", TOKEN)
        .output();
    let _ = Command::new("psql")
        .arg("postgres://postgres@127.0.0.1:5432/postgres")
        .args(["-qc", &format!("DROP ROLE IF EXISTS \"{owner}\"")])
        .output();
}
