"""Shared by bench/dump.py and bench/verify.py: the CRM benchmark database, timed child processes
with their peak RSS, and the environment `opsbackup` runs in.

The database lives on the MariaDB at 127.0.0.1:3306 (root, empty password) and is reused across
runs: it is only (re)built when its `bench_meta` row does not match the requested scale.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

HOST, PORT, USER = "127.0.0.1", 3306, "root"
GENERATOR_VERSION = 1
BENCH_HOME = Path(os.environ.get("OPSBENCH_HOME", "/tmp/opsbackup-bench"))
VENV_BIN = Path(sys.executable).parent
OPSBACKUP = VENV_BIN / "opsbackup"

# Rows per table at scale 1 (≈ 310 MB in information_schema, ≈ 230 MB of SQL, ≈ 95 MB gzip'd).
ROWS = {"users": 500, "companies": 22_000, "contacts": 280_000, "opportunities": 90_000, "activities": 390_000}

SCHEMA = [
    """CREATE TABLE users (
      id INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(100) NOT NULL,
      email VARCHAR(190) NOT NULL,
      role VARCHAR(20) NOT NULL,
      password_hash CHAR(60) NOT NULL,
      is_active TINYINT(1) NOT NULL DEFAULT 1,
      last_login_at DATETIME NULL,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL,
      UNIQUE KEY users_email_unique (email)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE companies (
      id INT UNSIGNED NOT NULL PRIMARY KEY,
      owner_id INT UNSIGNED NOT NULL,
      name VARCHAR(190) NOT NULL,
      domain VARCHAR(190) NOT NULL,
      industry VARCHAR(60) NOT NULL,
      employees INT UNSIGNED NULL,
      annual_revenue DECIMAL(15,2) NULL,
      phone VARCHAR(40) NULL,
      address VARCHAR(255) NULL,
      city VARCHAR(100) NULL,
      country CHAR(2) NOT NULL,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL,
      KEY companies_owner_id_index (owner_id),
      KEY companies_name_index (name)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE contacts (
      id INT UNSIGNED NOT NULL PRIMARY KEY,
      company_id INT UNSIGNED NULL,
      owner_id INT UNSIGNED NOT NULL,
      first_name VARCHAR(80) NOT NULL,
      last_name VARCHAR(80) NOT NULL,
      email VARCHAR(190) NOT NULL,
      phone VARCHAR(40) NULL,
      job_title VARCHAR(120) NULL,
      status VARCHAR(20) NOT NULL,
      lead_score SMALLINT NOT NULL DEFAULT 0,
      notes TEXT NULL,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL,
      KEY contacts_company_id_index (company_id),
      KEY contacts_email_index (email),
      KEY contacts_owner_status_index (owner_id, status)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE opportunities (
      id INT UNSIGNED NOT NULL PRIMARY KEY,
      contact_id INT UNSIGNED NOT NULL,
      company_id INT UNSIGNED NULL,
      owner_id INT UNSIGNED NOT NULL,
      title VARCHAR(190) NOT NULL,
      stage VARCHAR(30) NOT NULL,
      amount DECIMAL(12,2) NOT NULL,
      currency CHAR(3) NOT NULL,
      probability TINYINT UNSIGNED NOT NULL,
      expected_close_date DATE NULL,
      description TEXT NULL,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL,
      KEY opportunities_contact_id_index (contact_id),
      KEY opportunities_stage_close_index (stage, expected_close_date)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE activities (
      id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
      contact_id INT UNSIGNED NOT NULL,
      opportunity_id INT UNSIGNED NULL,
      user_id INT UNSIGNED NOT NULL,
      type VARCHAR(20) NOT NULL,
      subject VARCHAR(190) NOT NULL,
      body TEXT NULL,
      due_at DATETIME NULL,
      completed_at DATETIME NULL,
      created_at DATETIME NOT NULL,
      KEY activities_contact_id_index (contact_id),
      KEY activities_user_created_index (user_id, created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE bench_meta (
      name VARCHAR(40) NOT NULL PRIMARY KEY,
      value VARCHAR(190) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    # What a real CRM schema also holds, so the dump carries views, triggers and routines.
    """CREATE VIEW open_pipeline AS
      SELECT owner_id, stage, COUNT(*) AS deals, SUM(amount) AS total
      FROM opportunities WHERE stage NOT IN ('won', 'lost') GROUP BY owner_id, stage""",
    """CREATE TRIGGER opportunities_touch BEFORE UPDATE ON opportunities
      FOR EACH ROW SET NEW.updated_at = NOW()""",
    """CREATE PROCEDURE contacts_of_owner(IN p_owner INT UNSIGNED)
      SELECT id, first_name, last_name, email FROM contacts WHERE owner_id = p_owner""",
]

# LOAD DATA column lists: @ts_* are unix seconds turned into DATETIME by the server.
LOAD = {
    "users": ("(id, name, email, role, password_hash, is_active, @ll, @ca, @ua)",
              "last_login_at = FROM_UNIXTIME(NULLIF(@ll, '')), created_at = FROM_UNIXTIME(@ca), "
              "updated_at = FROM_UNIXTIME(@ua)"),
    "companies": ("(id, owner_id, name, domain, industry, employees, @rev, phone, address, city, country, @ca, @ua)",
                  "annual_revenue = NULLIF(@rev, '') / 100, created_at = FROM_UNIXTIME(@ca), "
                  "updated_at = FROM_UNIXTIME(@ua)"),
    "contacts": ("(id, company_id, owner_id, first_name, last_name, email, phone, job_title, status, lead_score, "
                 "notes, @ca, @ua)",
                 "created_at = FROM_UNIXTIME(@ca), updated_at = FROM_UNIXTIME(@ua)"),
    "opportunities": ("(id, contact_id, company_id, owner_id, title, stage, @amt, currency, probability, @close, "
                      "description, @ca, @ua)",
                      "amount = @amt / 100, expected_close_date = DATE(FROM_UNIXTIME(NULLIF(@close, ''))), "
                      "created_at = FROM_UNIXTIME(@ca), updated_at = FROM_UNIXTIME(@ua)"),
    "activities": ("(id, contact_id, opportunity_id, user_id, type, subject, body, @due, @done, @ca)",
                   "due_at = FROM_UNIXTIME(NULLIF(@due, '')), completed_at = FROM_UNIXTIME(NULLIF(@done, '')), "
                   "created_at = FROM_UNIXTIME(@ca)"),
}

FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
         "Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra "
         "Mark Margaret Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin "
         "Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Laura Edward Sharon Jeffrey "
         "Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda Stephen Pamela "
         "Larry Emma Justin Nicole Scott Helen Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra "
         "Alexander Rachel Frank Carolyn Patrick Janet Raymond Catherine Jack Maria Dennis Heather Jerry Diane "
         "Tyler Ruth Aaron Julie Jose Olivia Adam Joyce Nathan Virginia Henry Victoria Douglas Kelly Zachary "
         "Lauren Peter Christina Kyle Joan Ethan Evelyn Walter Judith Noah Megan Jeremy Andrea Christian Cheryl "
         "Keith Hannah Roger Jacqueline Terry Martha Gerald Gloria Harold Teresa Sean Ann Austin Sara Carl "
         "Madison Arthur Frances Lawrence Kathryn Dylan Janice Jesse Jean Jordan Abigail Bryan Alice Billy Julia "
         "Joe Judy Bruce Sophia Gabriel Grace Logan Denise Albert Amber Willie Doris Alan Marilyn Juan Danielle "
         "Wayne Beverly Elijah Isabella Randy Theresa Roy Diana Vincent Natalie Ralph Brittany Eugene Charlotte "
         "Søren Zoë José Łukasz Müller François Ångström").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
        "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
        "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
        "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz "
        "Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson "
        "Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
        "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins "
        "Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero "
        "Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant "
        "Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez "
        "McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford "
        "Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Muñoz Hunt Hicks Holmes Palmer "
        "Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels "
        "Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold "
        "Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson "
        "Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Peña Richards "
        "Willis Carpenter Lawrence Sandoval Guerrero George Chapman Rios Estrada Ortega Watkins Greene Núñez "
        "Wheeler Valdez Harper Burke Larson Santiago Maldonado Morrison Franklin Carlson Austin Dominguez "
        "Carr Lawson Jacobs O'Brien Lynch Singh Vega Bishop Montgomery Oliver Jensen Harvey Williamson Gilbert "
        "Dean Sims Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch Rojas "
        "Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson "
        "Acosta Brewer May Holland Juarez Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro "
        "Figueroa Keller Ávila Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert "
        "Miranda Byrd Craig Ayala Lowe Frazier Powers Neal Leonard Gregory Carrillo Sutton Fleming Rhodes "
        "Shelton Schwartz Norris Jennings Watts Duran Walters Cohen McDaniel Moran Parks Steele Vaughn Becker "
        "Holt DeLeon Barker Terry Hale Leon Hail Benson Haynes Horton Miles Lyons Pham Graves Bush Thornton "
        "Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher Page McCarthy Love Robles Cervantes "
        "Solis Erickson Reeves Chang Klein Salinas Fuentes Baldwin Daniel Simon Velasquez Hardy Higgins Aguirre "
        "Lin Cummings Chandler Sharp Barber Bowen Ochoa Dennis Robbins Liu Ramsey Francis Griffith Paul Blair "
        "O'Connor Cardenas Pacheco Cross Calderon Quinn Moss Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald "
        "Rosales Stevenson Christensen Manning Gill Curry McLaughlin Harmon McGee Gross Doyle Garner Newton "
        "Burgess Reese Walton Blake Trujillo Adkins Brady Goodman Roman Webster Goodwin Fischer Huang Potter").split()
WORDS = ("the a to of and in for on with is that this we our your will be as at by from it are can have not "
         "meeting call follow up proposal contract renewal pricing discount quote invoice payment budget "
         "quarter pipeline demo trial onboarding integration migration support ticket escalation feedback "
         "customer client prospect lead account partner vendor supplier stakeholder decision maker procurement "
         "legal review signed sent received scheduled postponed cancelled confirmed requested approved rejected "
         "next week monday tuesday wednesday thursday friday morning afternoon today tomorrow asap deadline "
         "team sales marketing finance engineering product operations management board director manager "
         "license seats users plan enterprise premium standard basic annual monthly upgrade downgrade churn "
         "risk opportunity expansion upsell cross-sell referral webinar conference trade show email phone "
         "linkedin website form inbound outbound campaign newsletter survey nps satisfaction complaint issue "
         "bug feature request roadmap release timeline estimate scope requirements specification document "
         "presentation slides notes summary agenda minutes action items owner status update blocked pending "
         "interested not-interested hot warm cold qualified unqualified nurture won lost closed open new "
         "€ £ ¥ café résumé naïve über straße 東京 北京 москва").split()
CITIES = ("Berlin Munich Hamburg Vienna Zurich Paris Lyon London Manchester Dublin Madrid Barcelona Lisbon "
          "Rome Milan Amsterdam Rotterdam Brussels Copenhagen Stockholm Oslo Helsinki Warsaw Prague Budapest "
          "Athens Istanbul Toronto Montreal Chicago Boston Seattle Austin Denver Atlanta Miami Dallas Phoenix "
          "Sydney Melbourne Auckland Tokyo Osaka Seoul Singapore Mumbai Bangalore Dubai Cairo Lagos Nairobi "
          "São-Paulo Buenos-Aires Santiago Bogotá Lima Mexico-City Kraków Łódź Göteborg Malmö Zürich").split()
COUNTRIES = "DE AT CH FR GB IE ES PT IT NL BE DK SE NO FI PL CZ HU GR TR CA US AU NZ JP KR SG IN AE EG NG KE BR AR CL CO PE MX".split()
INDUSTRIES = ("Software Manufacturing Retail Healthcare Finance Insurance Logistics Construction Education "
              "Hospitality Energy Telecommunications Media Agriculture Automotive Pharma Consulting Legal "
              "Real-Estate Non-Profit Government Aerospace Biotech Food-and-Beverage").split()
SUFFIX = "GmbH AG Ltd LLC Inc SA SAS BV AB Oy SpA Kft s.r.o. Group Holdings Partners Solutions Systems Labs".split()
TITLES = ("CEO CTO CFO COO VP-Sales VP-Marketing Head-of-IT IT-Manager Procurement-Manager Office-Manager "
          "Sales-Director Account-Executive Software-Engineer Operations-Manager HR-Manager Founder "
          "Product-Manager Marketing-Manager Purchasing-Agent Consultant Analyst Controller").split()
STATUS = ("lead", "lead", "prospect", "customer", "customer", "customer", "churned", "partner")
STAGES = ("prospecting", "qualification", "needs-analysis", "proposal", "negotiation", "won", "lost", "lost")
ACTIVITY = ("call", "call", "email", "email", "email", "meeting", "task", "note", "demo")
TLDS = ("com", "com", "com", "de", "co.uk", "fr", "io", "net", "org", "es", "it", "nl")


@dataclass
class Pools:
    """Pre-built strings picked by random.choices: fast, and varied enough that gzip sees text
    that compresses like a real CRM's (≈ 3–4×), not like repeated rows."""
    sentences: list[str]
    paragraphs: list[str]
    companies: list[str]
    domains: list[str]


def _make_pools(rng: random.Random) -> Pools:
    words = WORDS + [w.lower() for w in LAST[:200]] + [
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
        for _ in range(3000)]
    sentences = []
    for _ in range(40_000):
        s = " ".join(rng.choices(words, k=rng.randint(5, 16)))
        sentences.append(s[0].upper() + s[1:] + rng.choice((".", ".", ".", "!", "?", ":")))
    paragraphs = []
    for _ in range(120_000):
        n = rng.choice((1, 1, 2, 2, 3, 4, 6))
        sep = rng.choice((" ", " ", " ", "\\n", "\\n\\n"))  # TSV escape: a real newline in the column
        paragraphs.append(sep.join(rng.choices(sentences, k=n)))
    companies, domains = [], []
    for _ in range(60_000):
        core = rng.choice(LAST) + rng.choice(("", "", " & " + rng.choice(LAST), " " + rng.choice(INDUSTRIES)))
        companies.append(f"{core} {rng.choice(SUFFIX)}")
        slug = re.sub(r"[^a-z0-9]+", "-", core.lower().encode("ascii", "ignore").decode()).strip("-") or "x"
        domains.append(f"{slug}{rng.randint(1, 999) if rng.random() < 0.3 else ''}.{rng.choice(TLDS)}")
    return Pools(sentences, paragraphs, companies, domains)


def _ts(rng: random.Random, n: int, start: int = 1_420_070_400, span: int = 340_000_000) -> list[str]:
    return [str(start + rng.randrange(span)) for _ in range(n)]


def _ints(rng: random.Random, n: int, lo: int, hi: int) -> list[str]:
    return [str(rng.randint(lo, hi)) for _ in range(n)]


def _maybe(rng: random.Random, values: list[str], p_null: float) -> list[str]:
    return [v if rng.random() >= p_null else "\\N" for v in values]


def _rows(table: str, first_id: int, n: int, counts: dict[str, int], pools: Pools, rng: random.Random) -> list[str]:
    ids = [str(i) for i in range(first_id, first_id + n)]
    users = counts["users"]
    ch = rng.choices
    if table == "users":
        first, last = ch(FIRST, k=n), ch(LAST, k=n)
        names = [f"{a} {b}" for a, b in zip(first, last)]
        emails = [f"{a.lower()}.{b.lower()}.{i}@example-crm.com" for a, b, i in zip(first, last, ids)]
        roles = ch(("admin", "sales", "sales", "sales", "support", "manager"), k=n)
        hashes = ["$2y$10$" + "".join(ch("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=53))
                  for _ in range(n)]
        cols = [ids, names, emails, roles, hashes, ch(("1", "1", "1", "0"), k=n),
                _maybe(rng, _ts(rng, n), 0.1), _ts(rng, n), _ts(rng, n)]
    elif table == "companies":
        cols = [ids, _ints(rng, n, 1, users), ch(pools.companies, k=n), ch(pools.domains, k=n),
                ch(INDUSTRIES, k=n), _maybe(rng, _ints(rng, n, 1, 50_000), 0.2),
                _maybe(rng, _ints(rng, n, 10_000_00, 5_000_000_000_00), 0.3),
                _maybe(rng, [f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
                             for _ in range(n)], 0.2),
                _maybe(rng, [f"{rng.randint(1, 250)} {rng.choice(LAST)} {rng.choice(('Street', 'Road', 'Avenue', 'Straße', 'Lane', 'Platz'))}"
                             for _ in range(n)], 0.15),
                ch(CITIES, k=n), ch(COUNTRIES, k=n), _ts(rng, n), _ts(rng, n)]
    elif table == "contacts":
        first, last = ch(FIRST, k=n), ch(LAST, k=n)
        doms = ch(pools.domains, k=n)
        emails = [f"{a.lower()}.{b.lower()}{rng.randint(1, 99) if rng.random() < 0.4 else ''}@{d}"
                  for a, b, d in zip(first, last, doms)]
        cols = [ids, _maybe(rng, _ints(rng, n, 1, counts["companies"]), 0.15), _ints(rng, n, 1, users), first, last,
                emails,
                _maybe(rng, [f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100000, 99999999)}"
                             for _ in range(n)], 0.25),
                _maybe(rng, ch(TITLES, k=n), 0.3), ch(STATUS, k=n), _ints(rng, n, 0, 100),
                _maybe(rng, ch(pools.paragraphs, k=n), 0.35), _ts(rng, n), _ts(rng, n)]
    elif table == "opportunities":
        titles = [f"{a} – {b} {c}" for a, b, c in zip(ch(pools.companies, k=n),
                                                       ch(("Renewal", "New business", "Upsell", "Expansion", "Pilot",
                                                           "Migration", "Support contract", "Licences"), k=n),
                                                       _ints(rng, n, 2015, 2026))]
        cols = [ids, _ints(rng, n, 1, counts["contacts"]), _maybe(rng, _ints(rng, n, 1, counts["companies"]), 0.1),
                _ints(rng, n, 1, users), titles, ch(STAGES, k=n), _ints(rng, n, 100_00, 2_500_000_00),
                ch(("EUR", "EUR", "USD", "GBP", "CHF"), k=n), _ints(rng, n, 0, 100),
                _maybe(rng, _ts(rng, n), 0.1), _maybe(rng, ch(pools.paragraphs, k=n), 0.2), _ts(rng, n), _ts(rng, n)]
    elif table == "activities":
        kinds = ch(ACTIVITY, k=n)
        subjects = [f"{k.capitalize()}: {s[:120]}" for k, s in zip(kinds, ch(pools.sentences, k=n))]
        cols = [ids, _ints(rng, n, 1, counts["contacts"]),
                _maybe(rng, _ints(rng, n, 1, counts["opportunities"]), 0.6), _ints(rng, n, 1, users), kinds,
                subjects, _maybe(rng, ch(pools.paragraphs, k=n), 0.3), _maybe(rng, _ts(rng, n), 0.5),
                _maybe(rng, _ts(rng, n), 0.4), _ts(rng, n)]
    else:
        raise ValueError(table)
    return ["\t".join(row) for row in zip(*cols)]


def connect(database: str | None = None, **kwargs) -> pymysql.connections.Connection:
    return pymysql.connect(host=HOST, port=PORT, user=USER, password="", database=database, charset="utf8mb4",
                           autocommit=True, **kwargs)


def scalar(sql: str, args=None, database: str | None = None):
    conn = connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def execute(*statements: str) -> None:
    conn = connect()
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def db_size(database: str) -> tuple[int, int, dict[str, int]]:
    """(data+index bytes, data bytes, approximate rows per table) from information_schema."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name, data_length + index_length, data_length, table_rows "
                        "FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                        (database,))
            rows = cur.fetchall()
    finally:
        conn.close()
    return (sum(int(r[1]) for r in rows), sum(int(r[2]) for r in rows), {r[0]: int(r[3] or 0) for r in rows})


def ensure_crm(database: str, scale: float, say=print) -> int:
    """Create the CRM benchmark database at `scale` unless it exists complete; return its size."""
    want = f"v{GENERATOR_VERSION} scale={scale:g}"
    try:
        have = scalar("SELECT value FROM bench_meta WHERE name = 'built'", database=database)
    except pymysql.err.MySQLError:
        have = None
    if have == want:
        total, _, _ = db_size(database)
        say(f"reusing database {database} ({want}): {total / 1e6:.0f} MB in information_schema")
        return total
    say(f"building database {database} ({want}); takes a few minutes, done once")
    started = time.monotonic()
    counts = {t: max(1, int(n * scale)) if t != "users" else n for t, n in ROWS.items()}
    rng = random.Random(f"{database}-{scale}")
    pools = _make_pools(rng)
    execute(f"DROP DATABASE IF EXISTS `{database}`",
            f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn = connect(database, local_infile=True)
    tmp = Path(tempfile.mkdtemp(prefix="opsbench-gen-"))
    try:
        with conn.cursor() as cur:
            for sql in SCHEMA:
                cur.execute(sql)
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            for table, total in counts.items():
                t0 = time.monotonic()
                cols, setters = LOAD[table]
                done = 0
                while done < total:
                    n = min(100_000, total - done)
                    lines = _rows(table, done + 1, n, counts, pools, rng)
                    path = tmp / f"{table}.tsv"
                    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
                    cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
                                f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                                f"{cols} SET {setters}", (str(path),))
                    done += n
                say(f"  {table}: {total} rows in {time.monotonic() - t0:.1f} s")
            cur.execute("ANALYZE TABLE users, companies, contacts, opportunities, activities")
            cur.fetchall()
            cur.execute("INSERT INTO bench_meta VALUES ('built', %s)", (want,))
    finally:
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)
    total, _, _ = db_size(database)
    say(f"built {database} in {time.monotonic() - started:.0f} s: {total / 1e6:.0f} MB in information_schema")
    return total


def datadir_size(database: str) -> int:
    """Bytes the database's folder takes on disk (needs read access to the server's datadir)."""
    datadir = Path(scalar("SELECT @@datadir"))
    folder = datadir / database
    try:
        return sum(p.stat().st_blocks * 512 for p in folder.iterdir())
    except OSError:
        return 0


# ---- timed child processes -------------------------------------------------------------------

def _status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children", "rb") as handle:
                kids = [int(x) for x in handle.read().split()]
        except (OSError, ValueError):
            kids = []
        found.extend(kids)
        todo.extend(kids)
    return found


TIME = Path("/usr/bin/time")


@dataclass
class Run:
    seconds: float
    rc: int
    # "Maximum resident set size" of /usr/bin/time -v: the largest single process of the tree.
    # (Without /usr/bin/time: wait4's ru_maxrss, which also counts the bench's own pages the child
    # held between fork and exec, so it is never below this process's RSS.)
    maxrss_kb: int
    top_hwm_kb: int | None = None  # VmHWM of the top process itself (the opsbackup interpreter)
    child_hwm_kb: dict[str, int] = field(default_factory=dict)  # VmHWM per child program name
    tree_peak_kb: int | None = None  # largest sum of VmRSS over the whole tree at one sample
    stdout: str = ""
    stderr: str = ""
    cpu_s: float | None = None  # user + system CPU of the whole tree (not the server's)


@dataclass(frozen=True)
class Peaks:
    """The memory peaks of one side over its runs."""
    top_kb: int  # VmHWM of the top process (the opsbackup interpreter)
    largest_kb: int  # /usr/bin/time -v max RSS: the largest single process
    tree_kb: int  # the largest sum of VmRSS over the tree at one sample
    children: dict[str, int]  # VmHWM per child program name

    def children_text(self) -> str:
        return ", ".join(f"{name} {mb(kb)}" for name, kb in sorted(self.children.items())) or "-"


def peaks(runs: list[Run]) -> Peaks:
    children: dict[str, int] = {}
    for r in runs:
        for name, kb in r.child_hwm_kb.items():
            children[name] = max(children.get(name, 0), kb)
    return Peaks(max(r.top_hwm_kb or 0 for r in runs), max(r.maxrss_kb for r in runs),
                 max(r.tree_peak_kb or 0 for r in runs), children)


def run_timed(argv: list[str], env: dict[str, str], *, sample: bool = True, cwd: str | None = None,
              interval: float = 0.05) -> Run:
    """Run argv (under /usr/bin/time -v when present), return wall time, exit code and memory.
    `sample` polls /proc every `interval` (≈ 1 ms of CPU per poll) for the VmHWM of the top
    process and its children."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    report = tempfile.NamedTemporaryFile(prefix="opsbench-time-", delete=False)
    report.close()
    wrapped = TIME.exists()
    full = [str(TIME), "-v", "-o", report.name, *argv] if wrapped else argv
    top: list[int | None] = [None]
    kids: dict[str, int] = {}
    peak = [0]
    stop = threading.Event()
    t0 = time.monotonic()
    proc = subprocess.Popen(full, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd)

    def poll() -> None:
        pid = None
        while not stop.wait(interval):
            if pid is None:
                if not wrapped:
                    pid = proc.pid
                else:
                    found = _children(proc.pid)
                    if not found:
                        continue
                    pid = found[0]
            hwm = _status_kb(pid, b"VmHWM:")
            if hwm is None:
                continue
            top[0] = hwm
            total = _status_kb(pid, b"VmRSS:") or 0
            try:
                top_name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            for kid in _children(pid):
                try:
                    name = Path(f"/proc/{kid}/comm").read_text().strip()
                except OSError:
                    continue
                if name == top_name:
                    continue  # forked, not yet exec'd: its pages are the parent's
                k_hwm = _status_kb(kid, b"VmHWM:")
                if k_hwm is not None:
                    kids[name] = max(kids.get(name, 0), k_hwm)
                total += _status_kb(kid, b"VmRSS:") or 0
            peak[0] = max(peak[0], total)

    poller = threading.Thread(target=poll, daemon=True) if sample else None
    if poller:
        poller.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    stop.set()
    if poller:
        poller.join()
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    if wrapped:
        text = Path(report.name).read_text(errors="replace")
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        maxrss = int(found.group(1)) if found else 0
        code = re.search(r"Exit status: (\d+)", text)
        signalled = re.search(r"Command terminated by signal (\d+)", text)
        if signalled:
            rc = 128 + int(signalled.group(1))
        elif code:
            rc = int(code.group(1))
    os.unlink(report.name)
    out.seek(0)
    err.seek(0)
    return Run(seconds, rc, maxrss, top[0], kids, peak[0] or None,
               out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), cpu)


def opsbackup_env(root: Path, base: Path, **extra: str) -> dict[str, str]:
    """The environment `opsbackup run …` gets: nothing OPS_* from ours, a private config dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPS_", "RESTIC_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    env.update(OPS_BACKUP_BASE=str(base), OPS_DB_HOST=HOST, OPS_DB_PORT=str(PORT), OPS_DB_USER=USER,
               OPS_LOG_PATH=str(root / "ops.log"), OPS_STATE_DIR=str(root / "state"),
               XDG_CONFIG_HOME=str(root / "config"), PYTHONPYCACHEPREFIX=str(root / "pycache"))
    env.update(extra)
    return env


def median(values: list[float]) -> float:
    return statistics.median(values)


def mb(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024:.1f} MB"


def spread(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def dump_store(database: str) -> Path:
    """Where bench/dump.py keeps the last dump opsbackup made of `database`, for bench/verify.py."""
    return BENCH_HOME / database


def server_cpu() -> float:
    """CPU seconds the MariaDB server has used so far (0 when its process is not readable)."""
    try:
        pid = int(scalar("SELECT @@pid_file") and Path(scalar("SELECT @@pid_file")).read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, TypeError, IndexError, pymysql.err.MySQLError):
        return 0.0


def busy_note() -> str:
    """A warning when other work competes for the CPUs (ratios then depend on free cores)."""
    try:
        load = float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError):
        return ""
    cores = os.cpu_count() or 1
    if load > 0.5 * cores:
        return f"  (busy machine: load {load:.1f} on {cores} cores before this run)"
    return ""


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ---- a throwaway MariaDB, for benches that must not share the server with running tests ------

MIRRORED = ("innodb_buffer_pool_size", "innodb_log_file_size", "innodb_log_buffer_size", "innodb_flush_method",
            "innodb_flush_log_at_trx_commit", "innodb_doublewrite", "innodb_io_capacity",
            "innodb_adaptive_hash_index", "character_set_server", "collation_server", "max_allowed_packet")


def set_server(host: str, port: int) -> None:
    """Point connect(), opsbackup_env() and the peers' command lines at another server."""
    global HOST, PORT
    HOST, PORT = host, port


class PrivateServer:
    """mariadbd on a fresh datadir under /tmp, TCP on 127.0.0.1:<free port>, root without a
    password, the InnoDB settings of the shared server; removed on exit."""

    def __init__(self, say=print) -> None:
        self.say = say
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> "PrivateServer":
        import socket

        settings = []
        conn = connect()
        try:
            with conn.cursor() as cur:
                for name in MIRRORED:
                    cur.execute("SELECT @@GLOBAL." + name)
                    value = cur.fetchone()[0]
                    if value is not None:
                        settings.append(f"--{name.replace('_', '-')}={value}")
        finally:
            conn.close()
        self.root = Path(tempfile.mkdtemp(prefix="opsbench-mariadb-"))
        datadir = self.root / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        done = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
                               "--auth-root-authentication-method=normal", "--skip-test-db", *user],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {done.stderr[-500:]}")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={datadir}", f"--socket={self.root / 'mysqld.sock'}",
             f"--pid-file={self.root / 'mysqld.pid'}", f"--port={self.port}", "--bind-address=127.0.0.1",
             "--skip-name-resolve", f"--log-error={self.root / 'error.log'}", *settings, *user],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="").close()
                break
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.root / "error.log").read_text(errors="replace")[-800:]
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"private mariadbd did not start: {log}") from None
                time.sleep(0.2)
        self.say(f"private MariaDB on 127.0.0.1:{self.port} (datadir {datadir}; {' '.join(settings)})")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
