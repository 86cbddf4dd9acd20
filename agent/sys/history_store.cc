#include "agent/sys/history_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <sqlite3.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

constexpr int kSchemaVersion = 1;

constexpr char kSchema[] = R"sql(
CREATE TABLE samples (
  tier INTEGER NOT NULL,  -- index into kHistoryTiers
  path TEXT NOT NULL,
  t INTEGER NOT NULL,     -- bucket start, Unix seconds
  n REAL NOT NULL,        -- 1 s samples averaged
  tx REAL NOT NULL, rx REAL NOT NULL,  -- bytes/s
  rtt REAL, rtt_n REAL NOT NULL, rtt_max REAL, jitter REAL,  -- ms
  loss REAL NOT NULL, avail REAL NOT NULL, weight REAL NOT NULL,
  status INTEGER,         -- PathStatus of a single 1 s sample
  PRIMARY KEY (tier, path, t)) WITHOUT ROWID;
CREATE TABLE transitions (
  id INTEGER PRIMARY KEY, t_us INTEGER NOT NULL, path TEXT NOT NULL,
  from_status INTEGER NOT NULL, to_status INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE INDEX transitions_by_time ON transitions (t_us);
CREATE TABLE cap_usage (
  path TEXT PRIMARY KEY, period_start_us INTEGER NOT NULL, used_bytes INTEGER NOT NULL,
  warnings_issued INTEGER NOT NULL);
PRAGMA user_version = 1;
)sql";

// Weighted averages of the rows of one (path, bucket): the same whether
// downsampling into a coarser tier or answering a query with coarse buckets.
// ?1 is the bucket length in seconds.
constexpr char kBucketColumns[] = R"sql(
  path, (t / ?1) * ?1 AS bucket, SUM(n),
  SUM(tx * n) / SUM(n), SUM(rx * n) / SUM(n),
  SUM(rtt * rtt_n) / NULLIF(SUM(rtt_n), 0), SUM(rtt_n), MAX(rtt_max),
  SUM(jitter * rtt_n) / NULLIF(SUM(rtt_n), 0),
  SUM(loss * n) / SUM(n), SUM(avail * n) / SUM(n), SUM(weight * n) / SUM(n),
  CASE WHEN SUM(n) = 1 THEN MAX(status) END
)sql";

int64_t Seconds(absl::Duration d) { return absl::ToInt64Seconds(d); }

std::optional<PathStatus> StatusFromInt(int64_t value) {
  for (PathStatus h : kAllPathStatuses) {
    if (static_cast<int64_t>(h) == value) return h;
  }
  return std::nullopt;
}

// A prepared statement; errors are read from the connection by the caller.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool prepared() const { return rc_ == SQLITE_OK; }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, const std::optional<double>& v) {
    if (v) {
      Bind(i, *v);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  // Ready to run again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::optional<double> OptionalDouble(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return Double(col);
  }
  std::string Text(int col) const {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    return text ? std::string(reinterpret_cast<const char*>(text)) : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// Reads the columns of kBucketColumns, starting at column 0.
HistoryRow ReadBucketRow(const Statement& s, std::string* path) {
  *path = s.Text(0);
  HistoryRow row;
  row.time = absl::FromUnixSeconds(s.Int(1));
  row.samples = s.Double(2);
  row.tx_bytes_per_s = s.Double(3);
  row.rx_bytes_per_s = s.Double(4);
  row.rtt_ms = s.OptionalDouble(5);
  row.rtt_samples = s.Double(6);
  row.rtt_max_ms = s.OptionalDouble(7);
  row.jitter_ms = s.OptionalDouble(8);
  row.loss = s.Double(9);
  row.availability = s.Double(10);
  row.weight = s.Double(11);
  if (std::optional<double> status = s.OptionalDouble(12)) {
    row.status = StatusFromInt(static_cast<int64_t>(*status));
  }
  return row;
}

size_t TierFor(absl::Duration window) {
  size_t tier = 0;
  while (tier + 1 < std::size(kHistoryTiers) && kHistoryTiers[tier].retention < window) ++tier;
  return tier;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HistoryStore>> HistoryStore::OpenForAgent(const std::string& file) {
  const std::string dir = file.substr(0, file.rfind('/'));
  if (file.find('/') != std::string::npos && !dir.empty() && mkdir(dir.c_str(), 0750) != 0 &&
      errno != EEXIST) {
    return absl::UnavailableError(
        absl::StrCat("monitoring.history_file: cannot create ", dir, ": ", std::strerror(errno)));
  }
  return Open(file, Mode::kReadWrite);
}

absl::StatusOr<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& file, Mode mode,
                                                                 Clock clock) {
  const int flags =
      mode == Mode::kReadWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    absl::Status error = absl::FailedPreconditionError(absl::StrCat(
        "history database ", file, ": opening: ", db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return error;
  }
  std::unique_ptr<HistoryStore> store(new HistoryStore(db, file, std::move(clock)));
  // The agent writes while the CLI reads: wait for the other's lock a while.
  sqlite3_busy_timeout(db, 2000);

  int64_t found;
  {
    Statement version(db, "PRAGMA user_version");
    if (!version.prepared() || version.Step() != SQLITE_ROW) {
      return store->Error("reading the schema version");
    }
    found = version.Int(0);
  }
  if (found > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("history database ", file, ": schema version ", found,
                     " is newer than this meshbpf's (", kSchemaVersion, ")"));
  }
  if (found == 0) {
    if (mode == Mode::kReadOnly) {
      return absl::FailedPreconditionError(
          absl::StrCat("history database ", file, ": holds no meshbpf history"));
    }
    // All tables and the version at once, or none: a half-made schema would
    // make every later open fail.
    absl::Status created = store->InTransaction(
        "creating the tables", [&] { return store->Exec(kSchema, "creating the tables"); });
    if (!created.ok()) return created;
  }
  return store;
}

HistoryStore::~HistoryStore() { sqlite3_close(db_); }

absl::Status HistoryStore::Error(std::string_view doing) const {
  return absl::FailedPreconditionError(absl::StrCat("history database ", file_, ": ",
                                                    std::string(doing), ": ", sqlite3_errmsg(db_)));
}

absl::Status HistoryStore::Exec(const char* sql, std::string_view doing) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return Error(doing);
  return absl::OkStatus();
}

// Runs `body` inside a transaction: committed when it succeeds, rolled back
// when it fails.
absl::Status HistoryStore::InTransaction(std::string_view doing,
                                         const std::function<absl::Status()>& body) {
  if (absl::Status s = Exec("BEGIN IMMEDIATE", doing); !s.ok()) return s;
  absl::Status result = body();
  if (result.ok()) result = Exec("COMMIT", doing);
  if (!result.ok()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return result;
}

absl::Status HistoryStore::RecordSample(const MetricsSnapshot& snapshot) {
  const int64_t now = absl::ToUnixSeconds(clock_());
  return InTransaction("recording a sample", [&]() -> absl::Status {
    Statement insert(db_,
                     "INSERT OR REPLACE INTO samples (tier, path, t, n, tx, rx, rtt, rtt_n, "
                     "rtt_max, jitter, loss, avail, weight, status) "
                     "VALUES (0, ?1, ?2, 1, ?3, ?4, ?5, ?6, ?5, ?7, ?8, ?9, ?10, ?11)");
    if (!insert.prepared()) return Error("recording a sample");
    for (const PathMetrics& p : snapshot.paths) {
      insert.Reset();
      insert.Bind(1, p.name);
      insert.Bind(2, now);
      insert.Bind(3, p.tx_bytes_per_s);
      insert.Bind(4, p.rx_bytes_per_s);
      insert.Bind(5, p.rtt_ms);
      insert.Bind(6, p.rtt_ms ? 1.0 : 0.0);
      insert.Bind(7, p.rtt_ms ? p.jitter_ms : std::nullopt);
      insert.Bind(8, p.loss);
      insert.Bind(9, PathUsable(p.status) ? 1.0 : 0.0);
      insert.Bind(10, p.weight);
      insert.Bind(11, static_cast<int64_t>(p.status));
      if (insert.Step() != SQLITE_DONE) return Error("recording a sample of " + p.name);
    }
    return absl::OkStatus();
  });
}

absl::Status HistoryStore::RecordTransition(const PathTransition& transition) {
  Statement insert(db_,
                   "INSERT INTO transitions (t_us, path, from_status, to_status, reason) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!insert.prepared()) return Error("recording a transition");
  insert.Bind(1, absl::ToUnixMicros(transition.time));
  insert.Bind(2, transition.path);
  insert.Bind(3, static_cast<int64_t>(transition.from));
  insert.Bind(4, static_cast<int64_t>(transition.to));
  insert.Bind(5, transition.reason);
  if (insert.Step() != SQLITE_DONE) return Error("recording a transition of " + transition.path);
  return absl::OkStatus();
}

absl::Status HistoryStore::Downsample(size_t tier, absl::Time now) {
  const int64_t bucket = Seconds(kHistoryTiers[tier].resolution);
  // Finished buckets after the newest one already folded; a late sample for
  // a bucket already folded is ignored.
  Statement insert(db_, absl::StrCat("INSERT OR IGNORE INTO samples SELECT ?2, ", kBucketColumns,
                                     " FROM samples WHERE tier = ?3 AND t >= ?4 AND t < ?5 "
                                     "GROUP BY path, bucket"));
  Statement newest(db_, "SELECT MAX(t) FROM samples WHERE tier = ?1");
  if (!insert.prepared() || !newest.prepared()) return Error("downsampling");
  newest.Bind(1, static_cast<int64_t>(tier));
  if (newest.Step() != SQLITE_ROW) return Error("downsampling");
  const std::optional<double> newest_folded = newest.OptionalDouble(0);
  insert.Bind(1, bucket);
  insert.Bind(2, static_cast<int64_t>(tier));
  insert.Bind(3, static_cast<int64_t>(tier - 1));
  insert.Bind(4, newest_folded ? static_cast<int64_t>(*newest_folded) + bucket : INT64_MIN);
  insert.Bind(5, absl::ToUnixSeconds(now) / bucket * bucket);
  if (insert.Step() != SQLITE_DONE) return Error("downsampling");
  return absl::OkStatus();
}

absl::Status HistoryStore::Compact() {
  const absl::Time now = clock_();
  return InTransaction("compacting", [&]() -> absl::Status {
    for (size_t tier = 1; tier < std::size(kHistoryTiers); ++tier) {
      if (absl::Status s = Downsample(tier, now); !s.ok()) return s;
    }
    Statement prune(db_, "DELETE FROM samples WHERE tier = ?1 AND t < ?2");
    if (!prune.prepared()) return Error("pruning samples");
    for (size_t tier = 0; tier < std::size(kHistoryTiers); ++tier) {
      prune.Reset();
      prune.Bind(1, static_cast<int64_t>(tier));
      prune.Bind(2, absl::ToUnixSeconds(now - kHistoryTiers[tier].retention));
      if (prune.Step() != SQLITE_DONE) return Error("pruning samples");
    }
    Statement prune_transitions(
        db_,
        "DELETE FROM transitions WHERE t_us < ?1 OR id <= (SELECT MAX(id) FROM transitions) - ?2");
    if (!prune_transitions.prepared()) return Error("pruning transitions");
    prune_transitions.Bind(
        1, absl::ToUnixMicros(now - kHistoryTiers[std::size(kHistoryTiers) - 1].retention));
    prune_transitions.Bind(2, static_cast<int64_t>(kMaxStoredTransitions));
    if (prune_transitions.Step() != SQLITE_DONE) return Error("pruning transitions");
    return absl::OkStatus();
  });
}

absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> HistoryStore::Series(
    absl::Duration window, absl::Duration bucket) const {
  if (window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("history window: must be longer than 0");
  }
  if (bucket < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("history bucket: must not be negative");
  }
  const size_t tier = TierFor(window);
  const int64_t bucket_s = std::max(Seconds(kHistoryTiers[tier].resolution), Seconds(bucket));
  const absl::Time now = clock_();
  Statement select(db_, absl::StrCat("SELECT ", kBucketColumns,
                                     " FROM samples WHERE tier = ?2 AND t >= ?3 AND t <= ?4 "
                                     "GROUP BY path, bucket ORDER BY path, bucket"));
  if (!select.prepared()) return Error("reading samples");
  select.Bind(1, bucket_s);
  select.Bind(2, static_cast<int64_t>(tier));
  select.Bind(3, absl::ToUnixSeconds(now - window));
  select.Bind(4, absl::ToUnixSeconds(now));
  std::map<std::string, std::vector<HistoryRow>> series;
  int rc;
  while ((rc = select.Step()) == SQLITE_ROW) {
    std::string path;
    HistoryRow row = ReadBucketRow(select, &path);
    series[path].push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return Error("reading samples");
  return series;
}

absl::StatusOr<std::vector<PathTransition>> HistoryStore::Transitions(absl::Duration window) const {
  Statement select(db_,
                   "SELECT t_us, path, from_status, to_status, reason FROM transitions "
                   "WHERE t_us >= ?1 ORDER BY t_us, id");
  if (!select.prepared()) return Error("reading transitions");
  select.Bind(1, absl::ToUnixMicros(clock_() - window));
  std::vector<PathTransition> transitions;
  int rc;
  while ((rc = select.Step()) == SQLITE_ROW) {
    PathTransition t;
    t.time = absl::FromUnixMicros(select.Int(0));
    t.path = select.Text(1);
    std::optional<PathStatus> from = StatusFromInt(select.Int(2));
    std::optional<PathStatus> to = StatusFromInt(select.Int(3));
    if (!from || !to) {
      return absl::DataLossError(absl::StrCat("history database ", file_, ": a transition of ",
                                              t.path, " has an unknown state (", select.Int(2),
                                              " -> ", select.Int(3), ")"));
    }
    t.from = *from;
    t.to = *to;
    t.reason = select.Text(4);
    transitions.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return Error("reading transitions");
  return transitions;
}

absl::StatusOr<std::vector<PathSummary>> HistoryStore::Summaries(
    absl::Duration window, const TrendThresholds& thresholds) const {
  const absl::Time now = clock_();
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> series = Series(window);
  if (!series.ok()) return series.status();
  absl::StatusOr<std::vector<PathTransition>> transitions = Transitions(window);
  if (!transitions.ok()) return transitions.status();
  std::map<std::string, std::vector<HistoryRow>> by_path = std::move(*series);
  for (const PathTransition& t : *transitions) by_path[t.path];  // paths seen only changing state
  std::vector<PathSummary> summaries;
  for (const auto& [path, rows] : by_path) {
    summaries.push_back(SummarizePath(path, rows, *transitions, now - window, now, thresholds));
  }
  return summaries;
}

absl::Status HistoryStore::SaveCapUsage(const std::string& path, const CapUsage& usage) {
  Statement upsert(db_,
                   "INSERT OR REPLACE INTO cap_usage (path, period_start_us, used_bytes, "
                   "warnings_issued) VALUES (?1, ?2, ?3, ?4)");
  if (!upsert.prepared()) return Error("saving cap usage");
  upsert.Bind(1, path);
  upsert.Bind(2, absl::ToUnixMicros(usage.period_start));
  upsert.Bind(3, static_cast<int64_t>(usage.used_bytes));
  upsert.Bind(4, static_cast<int64_t>(usage.warnings_issued));
  if (upsert.Step() != SQLITE_DONE) return Error("saving cap usage of " + path);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CapUsage>> HistoryStore::LoadCapUsage(const std::string& path) const {
  Statement select(db_,
                   "SELECT period_start_us, used_bytes, warnings_issued FROM cap_usage "
                   "WHERE path = ?1");
  if (!select.prepared()) return Error("loading cap usage");
  select.Bind(1, path);
  const int rc = select.Step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return Error("loading cap usage of " + path);
  if (select.Int(1) < 0 || select.Int(2) < 0) {
    return absl::DataLossError(absl::StrCat("history database ", file_, ": cap usage of ", path,
                                            " is negative (", select.Int(1), " bytes, ",
                                            select.Int(2), " warnings)"));
  }
  CapUsage usage;
  usage.period_start = absl::FromUnixMicros(select.Int(0));
  usage.used_bytes = static_cast<uint64_t>(select.Int(1));
  usage.warnings_issued = static_cast<size_t>(select.Int(2));
  return usage;
}

}  // namespace meshbpf
