// The smoke test of make check: `make bench` in quick mode ran and produced a number for every
// benchmark. It checks presence and sanity only, never a timing.
import { readFileSync } from "node:fs";
import { strict as assert } from "node:assert";

const r = JSON.parse(readFileSync(new URL(process.argv[2] ?? "./results-quick.json", import.meta.url), "utf8"));
const b = r.benchmarks;
const positive = (x, what) => assert.ok(Number.isFinite(x) && x > 0, `${what}: ${x}`);

assert.ok(r.machine?.cpus > 0 && r.machine.date && r.machine.git, "machine, date and revision");
for (const [name, run] of [["a tenantd", b.a_warm_latency.tenantd], ["a nginx", b.a_warm_latency.nginx],
  ["b 16 tenants", b.b_throughput.per_tenant_16], ["b plain", b.b_throughput.plain], ["b nginx", b.b_throughput.nginx],
  ["f Node warm", b.f_node.warm]]) {
  positive(run.requests, `${name} requests`);
  positive(run.p50, `${name} p50`);
  positive(run.rps, `${name} req/s`);
  assert.equal(run.errors, 0, `${name}: errors`);
}
positive(b.c_first_invoke.p50, "c p50");
assert.equal(b.c_first_invoke.ok, b.c_first_invoke.count, "c: every first invocation answered");
positive(b.c_first_invoke.bare_start_p50, "c baseline");
for (const side of ["alone", "back_to_back", "every_50ms"]) {
  positive(b.c_arrivals[side].p50, `c arrivals ${side} p50`);
  assert.equal(b.c_arrivals[side].errors, 0, `c arrivals ${side}: errors`);
}
for (const side of ["back_to_back", "every_50ms"])
  assert.ok(b.c_arrivals[side].rounds.every((r) => r.arrival_failures === 0), `c arrivals ${side}: every new tenant answered`);
positive(b.d_churn.per_second, "d churn");
assert.equal(b.d_churn.failed, 0, "d: no failed invocation");
const density = Object.values(b.e_density);
assert.ok(density.length >= 1, "e: density figures");
for (const e of density) assert.ok(Number.isFinite(e.daemon_bytes_per_env), "e: tenantd's memory per environment");
positive(b.f_node.first_p50, "f first invoke");
positive(b.f_node.node_e0_p50, "f node -e 0");
for (const size of ["1 KB", "64 KB", "1 MB", "6 MB"]) positive(b.g_payload[size].tenantd.p50, `g ${size}`);
for (const op of ["get", "put"]) {
  const h = b.h_tables[op].authorized;
  positive(h.rps, `h ${op} req/s`);
  assert.equal(h.errors, 0, `h ${op}: errors`);
}
positive(b.h_tables.raw_sqlite.get_per_s, "h raw SQLite");
for (const side of ["tdrt", "floor"]) for (const r of b.i_runtime_client[side]) positive(r.invocations, `i ${side} invocations`);
assert.ok(r.rows.length > 20, "the table");
console.log(`bench smoke test: ${r.rows.length} figures, all present`);
