// One episode, turn by turn: what the agent saw, what it did, and what it earned at each step.

import { add, api, badge, enc, h, json, link, longText, num, table, yesNo } from "./dom.js";

const ROLES = new Set(["system", "user", "assistant", "tool"]);
const STEP_PAGE = 100;

export function episodeUrl(runId, episodeId) {
  return `/api/runs/${enc(runId)}/episodes/${enc(episodeId)}`;
}

export function renderCall(call) {
  const args = call.raw_arguments ?? json(call.arguments ?? {});
  const compact = call.raw_arguments ?? JSON.stringify(call.arguments ?? {});
  const body = compact.length <= 100 ? h("code", { class: "args" }, compact) : longText(args, "args");
  return h(
    "div",
    { class: "call" },
    h("span", { class: "call-label" }, "→ tool call "),
    h("span", { class: "call-name" }, call.name),
    body,
    call.id ? h("span", { class: "muted" }, ` id ${call.id}`) : null,
    call.parse_error ? h("div", { class: "bad" }, `arguments not parsed: ${call.parse_error}`) : null,
  );
}

export function renderMessage(m) {
  const role = ROLES.has(m.role) ? m.role : "other";
  const head = [h("span", { class: "role" }, m.role ?? "?")];
  if (m.name) head.push(h("span", { class: "muted" }, ` · ${m.name}`));
  if (m.tool_call_id) head.push(h("span", { class: "muted" }, ` · result of ${m.tool_call_id}`));
  return h(
    "div",
    { class: `msg role-${role}` },
    h("div", { class: "msg-head" }, head),
    m.content ? longText(m.content, "msg-body") : null,
    (m.tool_calls || []).map(renderCall),
  );
}

function infoBadges(step) {
  const info = step.info || {};
  const out = [badge(`reward ${num(step.reward)}`, "reward")];
  if (typeof info.progress === "number") out.push(badge(`progress ${num(info.progress, 2)}`, "progress"));
  if (info.success) out.push(badge("success", "ok"));
  if (info.invalid_action) out.push(badge("invalid action", "bad"));
  return out;
}

export function renderStep(step) {
  const info = step.info || {};
  const extra = Object.fromEntries(
    Object.entries(info).filter(([k]) => !["progress", "success", "invalid_action"].includes(k)),
  );
  return h(
    "section",
    { class: "step", id: `step-${step.index}` },
    h(
      "header",
      { class: "step-head" },
      h("strong", null, `Step ${step.index}`),
      step.seat ? h("span", { class: "muted" }, ` · seat ${step.seat}`) : null,
      " ",
      infoBadges(step),
    ),
    h("div", { class: "obs" }, (step.observation || []).map(renderMessage)),
    step.action ? h("div", { class: "act" }, renderMessage(step.action)) : null,
    step.trace // a strategy's inner structure: reflections, memories retrieved, who said what, votes
      ? h("details", { class: "trace" }, h("summary", null, `strategy trace (${Object.keys(step.trace).join(", ")})`), h("pre", null, json(step.trace)))
      : null,
    Object.keys(extra).length
      ? h("details", { class: "info" }, h("summary", null, "info"), h("pre", null, json(extra)))
      : null,
    step.tools
      ? h(
          "details",
          { class: "tools" },
          h("summary", null, `tools offered (${step.tools.length})`),
          step.tools.map((t) =>
            h("div", { class: "tool" }, h("code", null, t.name), " ", t.description || "", h("pre", null, json(t.parameters))),
          ),
        )
      : null,
  );
}

export function episodeMeta(ep) {
  const tokens = (ep.input_tokens || 0) + (ep.output_tokens || 0);
  const nSteps = Array.isArray(ep.steps) ? ep.steps_total : ep.steps; // the detail carries the steps
  return h(
    "dl",
    { class: "meta" },
    [
      ["env", ep.env],
      ["task", ep.task_id],
      ["split / level", `${ep.split} / ${ep.difficulty}`],
      ["sample", ep.sample],
      ["agent", ep.agent],
      ["model", ep.model || "–"],
      ["status", ep.status],
      ["success", yesNo(ep.success)],
      ["reward", num(ep.reward)],
      ["progress", num(ep.progress, 2)],
      ["steps", `${nSteps} (${ep.invalid_actions} invalid)`],
      ["tokens", tokens.toLocaleString()],
      ["model calls", ep.model_calls],
      ["wall", `${num(ep.wall, 2)} s`],
    ].map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))),
  );
}

// The steps of an episode, with a button that loads the next page of steps from the API.
export function renderEpisodeBody(ep) {
  const wrap = h("div", { class: "episode-body" });
  if (ep.task && ep.task.params) {
    wrap.append(h("details", { class: "task" }, h("summary", null, "task parameters"), h("pre", null, json(ep.task.params))));
  }
  if (ep.result !== null && ep.result !== undefined) {
    wrap.append(h("details", { class: "result", open: true }, h("summary", null, "game result"), h("pre", null, json(ep.result))));
  }
  if (ep.seats && ep.seats.length) {
    wrap.append(
      table(
        ["seat", "player", "model", "score", "won", "steps", "invalid", "forfeit"],
        ep.seats.map((s) =>
          h(
            "tr",
            null,
            [s.seat, s.player, s.model || "–", num(s.score), num(s.won, 2), s.steps, s.invalid_actions, s.forfeit || ""].map((v) =>
              h("td", null, v),
            ),
          ),
        ),
        { class: "grid small" },
      ),
    );
  }
  if (ep.error) wrap.append(h("div", { class: "error-box" }, h("strong", null, "error"), longText(ep.error, "err")));
  const steps = h("div", { class: "steps" }, ep.steps.map(renderStep));
  wrap.append(steps);
  const finalBox = h(
    "section",
    { class: "step final" },
    h("header", { class: "step-head" }, h("strong", null, "Final observation")),
    (ep.final || []).map(renderMessage),
  );
  let loaded = ep.steps_offset + ep.steps.length;
  if (loaded < ep.steps_total) {
    const more = h("button", { type: "button", class: "more" }, `load more steps (${loaded} of ${ep.steps_total} shown)`);
    more.addEventListener("click", async () => {
      more.disabled = true;
      let next;
      try {
        next = await api(episodeUrl(ep.run_id, ep.id), { steps_offset: loaded, steps_limit: STEP_PAGE });
      } catch (e) {
        more.textContent = `could not load more steps: ${e.message}`;
        return;
      }
      steps.append(...next.steps.map(renderStep));
      loaded += next.steps.length;
      if (loaded >= ep.steps_total || !next.steps.length) more.replaceWith(finalBox);
      else {
        more.textContent = `load more steps (${loaded} of ${ep.steps_total} shown)`;
        more.disabled = false;
      }
    });
    wrap.append(more);
  } else if ((ep.final || []).length) {
    wrap.append(finalBox);
  }
  if (ep.calls && ep.calls.length) {
    wrap.append(
      h(
        "details",
        { class: "calls" },
        h("summary", null, `model calls (${ep.calls.length})`),
        table(
          ["#", "input", "output", "latency", "retries", "finish", "error"],
          ep.calls.map((c) =>
            h(
              "tr",
              null,
              [c.idx, c.input_tokens, c.output_tokens, `${num(c.latency, 2)} s`, c.retries, c.finish_reason || "–", c.error || ""].map(
                (v) => h("td", null, v),
              ),
            ),
          ),
        ),
      ),
    );
  }
  return wrap;
}

export async function episodeView(view, runId, episodeId, setCrumbs) {
  setCrumbs([
    ["Runs", link([])],
    [`run ${runId}`, link(["run", runId])],
    [`episode ${episodeId}`, null],
  ]);
  const ep = await api(episodeUrl(runId, episodeId), { steps_limit: STEP_PAGE });
  add(view, 
    h("h2", null, "Episode ", h("span", { class: "id", id: "episode-id" }, ep.id)),
    h("p", null, h("a", { href: link(["run", runId], { env: ep.env }) }, `← back to run ${runId}`)),
    episodeMeta(ep),
    renderEpisodeBody(ep),
  );
  return `episode ${ep.id}`;
}
