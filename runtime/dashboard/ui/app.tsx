/**
 * The dashboard's page: the list of runs at `/`, one run at `/workflows/<id>`. Plain
 * page loads between the two (links are links); a run that has not ended is polled
 * every second, the list every few seconds.
 */
import { render, type ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import {
  RUN_STATES,
  type ActionResponse,
  type InputsResponse,
  type ListResponse,
  type RunDetail,
  type RunResponse,
  type RunState,
  type Shown,
  type ShownError,
  type StepView,
} from "../types.js";

// ---- Talking to the server ------------------------------------------------------------

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { credentials: "same-origin", ...init, headers: { Accept: "application/json", ...init?.headers } });
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (res.status === 401) throw new Error("This dashboard needs its token: open it as /?token=<token>.");
  if (!res.ok) throw new Error(body.error ?? `the server answered ${res.status}`);
  return body as T;
}

const post = (path: string, body: unknown) =>
  request<ActionResponse>(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

const runPath = (id: string) => `/workflows/${encodeURIComponent(id)}`;
const apiRun = (id: string) => `/api${runPath(id)}`;

/** Loads now and again every `every(data)` ms (null: stop); `reload` loads at once. */
function usePolling<T>(load: () => Promise<T>, key: string, every: (data: T | undefined) => number | null) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const everyRef = useRef(every);
  everyRef.current = every;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      let next: T | undefined;
      try {
        next = await loadRef.current();
        if (stopped) return;
        setData(next);
        setError(undefined);
      } catch (e) {
        if (stopped) return;
        setError((e as Error).message);
      }
      const delay = everyRef.current(next);
      if (delay !== null && !stopped) timer = setTimeout(run, delay);
    };
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, tick]);
  return { data, error, reload: useCallback(() => setTick((t) => t + 1), []) };
}

// ---- Formatting ---------------------------------------------------------------------

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

const LIVE = new Set<RunState>(["PENDING", "ENQUEUED"]);
const STATE_LABEL: Record<RunState, string> = {
  PENDING: "Pending",
  ENQUEUED: "Enqueued",
  SUCCESS: "Success",
  ERROR: "Error",
  CANCELLED: "Cancelled",
  MAX_RECOVERY_ATTEMPTS_EXCEEDED: "Parked",
};

function Status({ status }: { status: RunState }) {
  return (
    <span class={`status status-${status}`} data-status={status} title={status}>
      {STATE_LABEL[status]}
    </span>
  );
}

function Value({ shown }: { shown: Shown }) {
  return (
    <pre class={`value${shown.raw ? " raw" : ""}`}>
      {shown.storedBytes !== undefined
        ? `(too large to show: ${shown.storedBytes} bytes stored; the start of its stored form)\n`
        : shown.raw
          ? "(stored text; it could not be read back)\n"
          : ""}
      {shown.text}
      {shown.download && (
        <>
          {"\n"}
          <a href={shown.download} download>
            Download all of it
          </a>
        </>
      )}
    </pre>
  );
}

function ErrorView({ error }: { error: ShownError }) {
  return (
    <div class="error-view">
      <div class="error-head">
        <strong>{error.name}</strong>: {error.message}
      </div>
      {error.fields && (
        <details>
          <summary>Fields</summary>
          <pre class="value">{error.fields}</pre>
        </details>
      )}
      {error.stack && (
        <details>
          <summary>Stack</summary>
          <pre class="value stack">{error.stack}</pre>
        </details>
      )}
    </div>
  );
}

function Notice({ kind, children }: { kind: "error" | "info"; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

// ---- The list of runs ---------------------------------------------------------------

function ListPage() {
  const params = new URLSearchParams(location.search);
  const [status, setStatus] = useState(params.get("status") ?? "");
  const [name, setName] = useState(params.get("name") ?? "");
  // What is typed in the name field, kept apart from the applied filter: the list
  // re-renders on every poll, and a field bound to the applied filter alone would
  // lose what the user is typing each time.
  const [nameDraft, setNameDraft] = useState(name);
  const [page, setPage] = useState(Math.max(0, Number(params.get("page") ?? 0) || 0));
  const limit = 25;

  // The address follows the filters, so a filtered list can be linked and reloaded.
  useEffect(() => {
    const q = new URLSearchParams();
    if (status) q.set("status", status);
    if (name) q.set("name", name);
    if (page) q.set("page", String(page));
    const search = q.toString();
    history.replaceState(null, "", search ? `/?${search}` : "/");
  }, [status, name, page]);

  const query = new URLSearchParams({ limit: String(limit), offset: String(page * limit) });
  if (status) query.set("status", status);
  if (name) query.set("name", name);
  const { data, error } = usePolling(() => request<ListResponse>(`/api/workflows?${query}`), query.toString(), () => 2000);
  document.title = "Workflows · Stepwise";
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    request<ListResponse>("/api/workflows?limit=1&names=1").then((r) => setNames(r.names ?? []), () => {});
  }, []);

  return (
    <main class="page">
      <header class="page-head">
        <h1>Workflows</h1>
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            Status{" "}
            <select
              name="status"
              value={status}
              onChange={(e) => {
                setStatus((e.target as HTMLSelectElement).value);
                setPage(0);
              }}
            >
              <option value="">All</option>
              {RUN_STATES.map((s) => (
                <option value={s}>{STATE_LABEL[s]}</option>
              ))}
            </select>
          </label>
          <label>
            Name{" "}
            <input
              name="name"
              list="workflow-names"
              placeholder="any workflow"
              value={nameDraft}
              onInput={(e) => setNameDraft((e.target as HTMLInputElement).value)}
              onChange={(e) => {
                setName((e.target as HTMLInputElement).value.trim());
                setPage(0);
              }}
            />
            <datalist id="workflow-names">
              {names.map((n) => (
                <option value={n} />
              ))}
            </datalist>
          </label>
        </form>
      </header>
      {error && <Notice kind="error">{error}</Notice>}
      <table class="runs">
        <thead>
          <tr>
            <th>Status</th>
            <th>Name</th>
            <th>Workflow ID</th>
            <th>Started</th>
            <th class="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {data?.runs.map((run) => (
            <tr key={run.workflowID} data-workflow-id={run.workflowID}>
              <td>
                <Status status={run.status} />
              </td>
              <td>{run.name}</td>
              <td class="mono">
                <a href={runPath(run.workflowID)}>{run.workflowID}</a>
                {run.recoveryError && (
                  <span class="warn" title={run.recoveryError}>
                    {" "}
                    ⚠
                  </span>
                )}
              </td>
              <td>{time(run.createdAt)}</td>
              <td class="num">{duration(run.durationMs ?? data.now - run.createdAt)}</td>
            </tr>
          ))}
          {data && data.runs.length === 0 && (
            <tr>
              <td colSpan={5} class="empty">
                No runs{status || name ? " match these filters" : " yet"}.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <nav class="pager">
        <button disabled={page === 0} onClick={() => setPage(page - 1)}>
          ← Newer
        </button>
        <span>Page {page + 1}</span>
        <button disabled={!data?.hasMore} onClick={() => setPage(page + 1)}>
          Older →
        </button>
      </nav>
    </main>
  );
}

// ---- One run ------------------------------------------------------------------------

interface Pending {
  title: string;
  body: string;
  confirm: string;
  action: () => Promise<ActionResponse>;
  then?: (response: ActionResponse) => void;
}

function Confirm({ pending, onClose }: { pending: Pending; onClose: (result?: ActionResponse | Error) => void }) {
  const [busy, setBusy] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => confirmRef.current?.focus(), []);
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && !busy && onClose()}>
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title" onKeyDown={(e) => e.key === "Escape" && !busy && onClose()}>
        <h2 id="dialog-title">{pending.title}</h2>
        <p>{pending.body}</p>
        <div class="dialog-buttons">
          <button onClick={() => onClose()} disabled={busy}>
            Back
          </button>
          <button
            ref={confirmRef}
            class="danger"
            data-testid="confirm"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              try {
                onClose(await pending.action());
              } catch (e) {
                onClose(e as Error);
              }
            }}
          >
            {pending.confirm}
          </button>
        </div>
      </div>
    </div>
  );
}

const KIND_LABEL: Record<StepView["kind"], string> = {
  step: "step",
  child: "child workflow",
  send: "send",
  recv: "recv",
  setEvent: "setEvent",
  getEvent: "getEvent",
  sleep: "sleep",
  now: "now",
  randomUUID: "randomUUID",
};

function Timeline({ detail, now, onFork }: { detail: RunResponse; now: number; onFork: (functionID: number) => void }) {
  const { run, steps } = detail;
  const [open, setOpen] = useState<Set<number>>(new Set());
  const live = LIVE.has(run.status);
  // A fork keeps the steps it copied with their first times, so the axis starts at the earliest.
  const t0 = Math.min(run.createdAt, ...steps.map((s) => s.startedAt));
  const lastEnd = steps.reduce((m, s) => Math.max(m, s.completedAt), run.startedAt ?? run.createdAt);
  const t1 = Math.max(live ? now : run.updatedAt, lastEnd, t0 + 1);
  const span = t1 - t0;
  const pct = (ms: number) => `${(((ms - t0) / span) * 100).toFixed(3)}%`;
  const width = (from: number, to: number) => `max(${(((to - from) / span) * 100).toFixed(3)}%, 3px)`;
  const toggle = (id: number) => {
    const next = new Set(open);
    if (!next.delete(id)) next.add(id);
    setOpen(next);
  };
  const nextID = steps.length ? steps[steps.length - 1]!.functionID + 1 : 0;

  return (
    <section class="timeline" aria-label="Timeline">
      <div class="axis">
        <div class="axis-label" />
        <div class="axis-track">
          {[0, 0.25, 0.5, 0.75, 1].map((f) => (
            <span class="tick" style={{ left: `${f * 100}%` }}>
              {f === 0 ? "0" : duration(span * f)}
            </span>
          ))}
        </div>
      </div>
      {steps.length === 0 && !live && <p class="empty">This run recorded no steps.</p>}
      {steps.length === 0 && run.status === "ENQUEUED" && <p class="empty">Waiting in queue {run.queueName} to be started.</p>}
      {steps.map((s) => {
        const failed = s.error !== null;
        const retried = s.attempts > 1;
        const isOpen = open.has(s.functionID);
        return (
          <div class={`step-row${isOpen ? " open" : ""}`} data-function-id={s.functionID} data-step-id={s.stepID} key={s.functionID}>
            <button class="step-line" aria-expanded={isOpen} onClick={() => toggle(s.functionID)}>
              <span class="step-label">
                <span class="fid">#{s.functionID}</span> <span class="sid">{s.stepID}</span>
                {s.kind !== "step" && <span class="badge kind">{KIND_LABEL[s.kind]}</span>}
                {retried && (
                  <span class="badge retry" title={`${s.attempts} attempts`}>
                    ↻ {s.attempts} attempts
                  </span>
                )}
                {failed && <span class="badge fail">error</span>}
              </span>
              <span class="track">
                <span
                  class={`bar bar-${s.kind}${failed ? " failed" : ""}${retried ? " retried" : ""}`}
                  style={{ left: pct(s.startedAt), width: width(s.startedAt, s.completedAt) }}
                  title={`${duration(s.completedAt - s.startedAt)}`}
                >
                  {retried && Array.from({ length: s.attempts - 1 }, (_, i) => <i class="retry-mark" style={{ left: `${((i + 1) / s.attempts) * 100}%` }} />)}
                </span>
                <span class="bar-time" style={{ left: `calc(${pct(s.completedAt)} + 6px)` }}>
                  {duration(s.completedAt - s.startedAt)}
                </span>
              </span>
            </button>
            {isOpen && (
              <div class="step-detail">
                <dl class="facts">
                  <dt>Function ID</dt>
                  <dd>{s.functionID}</dd>
                  <dt>Step ID</dt>
                  <dd class="mono">{s.stepID}</dd>
                  <dt>Started</dt>
                  <dd>{time(s.startedAt)}</dd>
                  <dt>Took</dt>
                  <dd>{duration(s.completedAt - s.startedAt)}</dd>
                  <dt>Attempts</dt>
                  <dd>{s.attempts}</dd>
                </dl>
                {s.childWorkflowID && (
                  <p>
                    Child workflow: <a href={runPath(s.childWorkflowID)}>{s.childWorkflowID}</a>
                  </p>
                )}
                {s.kind === "sleep" && s.output && <p>Until {time(Number(s.output.text))}</p>}
                {s.error ? <ErrorView error={s.error} /> : s.output && s.kind !== "sleep" && <Value shown={s.output} />}
                <button class="small" onClick={() => onFork(s.functionID)}>
                  Fork from #{s.functionID}…
                </button>
              </div>
            )}
          </div>
        );
      })}
      {live && run.status === "PENDING" && run.recoveryError === null && (
        <div class="step-row running" data-function-id={nextID}>
          <div class="step-line">
            <span class="step-label">
              <span class="fid">#{nextID}</span> <span class="sid muted">running…</span>
            </span>
            <span class="track">
              <span class="bar bar-running" style={{ left: pct(lastEnd), width: width(lastEnd, now) }} />
            </span>
          </div>
        </div>
      )}
    </section>
  );
}

function Facts({ run, now }: { run: RunDetail; now: number }) {
  return (
    <dl class="facts run-facts">
      <dt>Workflow ID</dt>
      <dd class="mono">{run.workflowID}</dd>
      <dt>Started</dt>
      <dd>{time(run.createdAt)}</dd>
      <dt>Duration</dt>
      <dd>{duration(run.durationMs ?? now - run.createdAt)}</dd>
      <dt>Executor</dt>
      <dd class="mono">{run.executorID}</dd>
      {run.queueName && (
        <>
          <dt>Queue</dt>
          <dd class="mono">{run.queueName}</dd>
        </>
      )}
      {run.deadline !== null && (
        <>
          <dt>Deadline</dt>
          <dd>
            {time(run.deadline)}
            {run.timeoutMS !== null && ` (timeout ${duration(run.timeoutMS)})`}
          </dd>
        </>
      )}
      {run.recoveryAttempts > 0 && (
        <>
          <dt>Recoveries</dt>
          <dd>{run.recoveryAttempts}</dd>
        </>
      )}
    </dl>
  );
}

function Inputs({ workflowID }: { workflowID: string }) {
  const [inputs, setInputs] = useState<Shown | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  if (inputs) return <Value shown={inputs} />;
  return (
    <div>
      <button
        class="small"
        onClick={() =>
          request<InputsResponse>(`${apiRun(workflowID)}/inputs`).then(
            (r) => setInputs(r.inputs),
            (e) => setError((e as Error).message),
          )
        }
      >
        Show inputs
      </button>{" "}
      <span class="muted">Inputs may hold personal data; they are fetched only when asked for.</span>
      {error && <Notice kind="error">{error}</Notice>}
    </div>
  );
}

/**
 * The last function ID up to which every step is held (-1: none). Steps of a Promise.all
 * may be recorded out of order, so a gap is asked for again until it fills.
 */
function heldThrough(held: Map<number, StepView>): number {
  let id = -1;
  while (held.has(id + 1)) id++;
  return id;
}

function RunPage({ workflowID }: { workflowID: string }) {
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const [notice, setNotice] = useState<{ kind: "error" | "info"; text: string } | undefined>(undefined);
  // Recorded steps never change: each poll asks only for those after the ones held.
  const held = useRef(new Map<number, StepView>());
  const { data, error, reload } = usePolling(
    async () => {
      const page = await request<RunResponse>(`${apiRun(workflowID)}?after=${heldThrough(held.current)}`);
      for (const s of page.steps) held.current.set(s.functionID, s);
      return { ...page, steps: [...held.current.values()].sort((a, b) => a.functionID - b.functionID) };
    },
    workflowID,
    (d) => (d === undefined ? 3000 : LIVE.has(d.run.status) ? 1000 : null),
  );
  // Between polls the clock keeps moving, so a running bar and duration grow smoothly.
  const [clock, setClock] = useState(Date.now());
  const live = data !== undefined && LIVE.has(data.run.status);
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => setClock(Date.now()), 250);
    return () => clearInterval(timer);
  }, [live]);
  const now = data ? data.now + Math.max(0, clock - data.now) : clock;

  const fork = (functionID: number) =>
    setPending({
      title: `Fork from #${functionID}?`,
      body: `This starts a new run of ${data?.run.name} with the same inputs. It keeps what this run recorded before function ID ${functionID} and runs everything from there again (steps from #${functionID} on will execute again).`,
      confirm: "Fork",
      action: () => post(`${apiRun(workflowID)}/fork`, { fromFunctionID: functionID }),
      then: (r) => location.assign(runPath(r.workflowID)),
    });

  if (!data) {
    return (
      <main class="page">
        <a class="back" href="/">
          ← All workflows
        </a>
        {error ? <Notice kind="error">{error}</Notice> : <p class="muted">Loading…</p>}
      </main>
    );
  }
  const { run } = data;
  document.title = `${run.name} ${run.workflowID} · Stepwise`;
  const canResume = run.status === "CANCELLED" || run.status === "MAX_RECOVERY_ATTEMPTS_EXCEEDED" || (run.status === "PENDING" && run.recoveryError !== null);
  const received = data.steps.filter((s) => s.kind === "recv");
  const sent = data.steps.filter((s) => s.kind === "send");

  return (
    <main class="page">
      <a class="back" href="/">
        ← All workflows
      </a>
      <header class="run-head">
        <div>
          <h1>
            {run.name} <Status status={run.status} />
            {live && (
              <span class="live" title="Updating every second">
                ● live
              </span>
            )}
          </h1>
          <Facts run={run} now={now} />
        </div>
        <div class="actions">
          <button
            class="danger"
            disabled={!LIVE.has(run.status)}
            onClick={() =>
              setPending({
                title: "Cancel this run?",
                body: `${run.workflowID} stops at its next durable operation and ends as CANCELLED. A step already running finishes first. You can resume it later.`,
                confirm: "Cancel run",
                action: () => post(`${apiRun(workflowID)}/cancel`, {}),
              })
            }
          >
            Cancel…
          </button>
          <button
            disabled={!canResume}
            onClick={() =>
              setPending({
                title: "Resume this run?",
                body: `${run.workflowID} goes on from its last recorded step, on an executor that has the workflow ${run.name}.`,
                confirm: "Resume",
                action: () => post(`${apiRun(workflowID)}/resume`, {}),
              })
            }
          >
            Resume…
          </button>
          <button onClick={() => fork(0)}>Fork…</button>
        </div>
      </header>
      {error && <Notice kind="error">Could not refresh: {error}</Notice>}
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      {run.recoveryError && <Notice kind="error">This run cannot go on: {run.recoveryError}</Notice>}
      {run.result && (
        <section>
          <h2>Result</h2>
          <Value shown={run.result} />
        </section>
      )}
      {run.error && (
        <section>
          <h2>Error</h2>
          <ErrorView error={run.error} />
        </section>
      )}
      <section>
        <h2>Steps</h2>
        <Timeline detail={data} now={now} onFork={fork} />
      </section>
      <section class="columns">
        <div>
          <h2>Messages</h2>
          {data.inbox.length === 0 && received.length === 0 && sent.length === 0 && <p class="muted">No messages.</p>}
          {(data.inbox.length > 0 || received.length > 0) && (
            <table class="small-table messages">
              <thead>
                <tr>
                  <th />
                  <th>Topic</th>
                  <th>Time</th>
                  <th>Message</th>
                </tr>
              </thead>
              <tbody>
                {received.map((s) => (
                  <tr>
                    <td>received #{s.functionID}</td>
                    <td class="muted">—</td>
                    <td>{time(s.completedAt)}</td>
                    <td>{s.output ? <Value shown={s.output} /> : s.error && <ErrorView error={s.error} />}</td>
                  </tr>
                ))}
                {data.inbox.map((m) => (
                  <tr>
                    <td>waiting</td>
                    <td class="mono">{m.topic ?? "—"}</td>
                    <td>{time(m.createdAt)}</td>
                    <td>
                      <Value shown={m.message} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {sent.length > 0 && (
            <p class="muted">
              Sent {sent.length} message{sent.length === 1 ? "" : "s"} (#{sent.map((s) => s.functionID).join(", #")}).
            </p>
          )}
        </div>
        <div>
          <h2>Events</h2>
          {data.events.length === 0 ? (
            <p class="muted">No events.</p>
          ) : (
            <table class="small-table events">
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Value</th>
                  <th>Set</th>
                </tr>
              </thead>
              <tbody>
                {data.events.map((e) => (
                  <tr>
                    <td class="mono">{e.key}</td>
                    <td>
                      <Value shown={e.value} />
                    </td>
                    <td>{time(e.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </section>
      <section>
        <h2>Inputs</h2>
        <Inputs workflowID={workflowID} />
      </section>
      {pending && (
        <Confirm
          pending={pending}
          onClose={(result) => {
            setPending(undefined);
            if (result instanceof Error) setNotice({ kind: "error", text: result.message });
            else if (result) {
              setNotice({ kind: "info", text: result.message });
              if (pending.then) pending.then(result);
              reload();
            }
          }}
        />
      )}
    </main>
  );
}

function App() {
  const match = /^\/workflows\/([^/]+)\/?$/.exec(location.pathname);
  return (
    <>
      <nav class="topbar">
        <a class="brand" href="/">
          Stepwise
        </a>
      </nav>
      {match ? <RunPage workflowID={decodeURIComponent(match[1]!)} /> : <ListPage />}
    </>
  );
}

render(<App />, document.getElementById("app")!);
