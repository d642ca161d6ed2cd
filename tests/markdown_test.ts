/**
 * `plan --output markdown`: a pull-request comment. Rendered by markdown-it (CommonMark with GFM
 * tables; checked: maintained, 15.x in 2025, runs under Deno from npm; a test dependency only)
 * with raw HTML on, as GitHub renders comments: what a repository or server says stays text —
 * no element, link, mention or table cell of its own, no early end of a code block or <details>.
 */
import assert from "node:assert/strict";
import MarkdownIt from "markdown-it";
import { fenced, inlineText, MAX_DIFF_LINES, renderPlanMarkdown } from "../lib/report/markdown.ts";
import type { PlanDocument } from "../lib/report/json.ts";
import { registerSecret } from "../lib/util/redact.ts";

const md = new MarkdownIt({ html: true });
const SECRET = "canary-md-secret-73a1";
registerSecret(SECRET);

const HOSTILE = [
  "````",
  "```",
  "</details>",
  '<script>alert("x")</script>',
  "<img src=x onerror=alert(1)>",
  `token: ${SECRET}`,
  "@everyone [click](https://evil.example/) | cell | **bold** #1",
].join("\n");

function doc(): PlanDocument {
  return {
    formatVersion: 2,
    kind: "fluxfleet.plan",
    manifest: "fleet.yaml",
    shard: { index: 2, count: 4, selected: 40 },
    clusters: [
      {
        cluster: "dev",
        repository: {
          url: "https://git.example.com/org/fleet.git",
          branch: "main",
          dir: "clusters/dev/flux-system",
        },
        steps: [
          {
            kind: "file",
            action: "update",
            path: "clusters/dev/flux-system/<b>gotk-sync.yaml",
            // Context lines start with a space: " ```" could close a fence of three.
            diff: `--- a/x\n+++ b/x\n@@ -1,3 +1,9 @@\n \`\`\`\n </details>\n-old\n+${
              HOSTILE.replaceAll("\n", "\n+")
            }\n`,
          },
          { kind: "namespace", action: "create", name: "flux-system" },
        ],
        status: [],
        warnings: ["<img src=y onerror=alert(2)> @admin"],
        notes: [],
      },
      {
        cluster: "prod",
        repository: {
          url: "https://git.example.com/org/fleet.git",
          branch: "main",
          dir: "clusters/prod/flux-system",
        },
        steps: [],
        status: [],
        warnings: [],
        notes: [],
        error: `cannot read kubeconfig: <a href="https://evil.example/">x</a> ${SECRET}`,
      },
      {
        cluster: "lab",
        repository: {
          url: "https://git.example.com/org/lab.git",
          branch: "main",
          dir: "clusters/lab/flux-system",
        },
        steps: [],
        status: [{
          object: "Kustomization",
          name: "flux-system",
          namespace: "flux-system",
          ready: true,
          message: "ready",
        }],
        warnings: [],
        notes: [],
      },
    ],
    summary: { clusters: 3, changed: 1, unchanged: 1, failed: 1, skipped: 0, steps: 2 },
  } as PlanDocument;
}

Deno.test("markdown plan: summary, table of the clusters that change, <details> per cluster, diffs fenced", () => {
  const text = renderPlanMarkdown(doc());
  const html = md.render(text);
  assert.match(
    text,
    /^### fluxfleet plan: fleet&#46;yaml \(shard 2\/4 of 40 selected clusters\)\n/,
  );
  assert.match(html, /<strong>Plan: 2 changes in 1 cluster, 1 unchanged, 1 failed\.<\/strong>/);
  // The table: one row per cluster that changes or cannot be planned.
  const rows = [...html.matchAll(/<tr>\s*<td>(.*?)<\/td>/g)].map((m) => m[1]);
  assert.deepEqual(rows, ["dev", "prod"]);
  assert.match(html, /<td>https:\/\/git\.example\.com\/org\/fleet\.git<\/td>/);
  // Every <details> closes where it should: three of them, none inside another.
  assert.equal(html.match(/<details>/g)?.length, 3);
  assert.equal(html.match(/<\/details>/g)?.length, 3);
  assert.match(html, /<summary><b>dev<\/b>: 2 changes<\/summary>/);
  assert.match(html, /<summary><b>prod<\/b>: cannot plan<\/summary>/);
  assert.match(html, /<summary>1 cluster without changes<\/summary>\s*<p>lab<\/p>/);
  // The steps and the diff are code blocks highlighted as diffs.
  assert.match(
    html,
    /<code class="language-diff">~ commit clusters\/dev\/flux-system\/&lt;b&gt;gotk-sync\.yaml \(content differs from the manifest\)\n\+ create namespace flux-system\n/,
  );
  assert.match(
    html,
    /<code class="language-diff">--- a\/x\n\+\+\+ b\/x\n@@ -1,3 \+1,9 @@\n ```\n &lt;\/details&gt;\n-old\n\+````\n/,
  );
});

Deno.test("markdown plan: what a repository or server says stays text, secrets redacted", () => {
  const text = renderPlanMarkdown(doc());
  const html = md.render(text);
  assert.ok(!text.includes(SECRET) && !html.includes(SECRET), "the secret must be redacted");
  // No element came from the data: only the renderer's own tags appear.
  const tags = new Set([...html.matchAll(/<\/?([a-z0-9]+)/g)].map((m) => m[1]));
  assert.deepEqual(
    [...tags].sort(),
    [
      "b",
      "code",
      "details",
      "h3",
      "p",
      "pre",
      "strong",
      "summary",
      "table",
      "tbody",
      "td",
      "th",
      "thead",
      "tr",
    ],
  );
  assert.ok(!/<a |<img|<script/.test(html));
  // The hostile diff is inside one code block, whole, escaped.
  assert.ok(html.includes("&lt;/details&gt;\n+&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
  assert.ok(html.includes("+@everyone [click](https://evil.example/) | cell | **bold** #1\n"));
  // Text outside code: shown literally, a mention or link cannot form.
  assert.match(html, /<td>cannot plan<\/td>/);
  assert.ok(html.includes("&lt;img src=y onerror=alert(2)&gt; @admin"));
  assert.ok(html.includes("clusters/dev/flux-system/&lt;b&gt;gotk-sync.yaml:"));
});

Deno.test("markdown helpers: a fence longer than any backtick run; inline text keeps words, encodes markup", () => {
  assert.equal(fenced("a ``` b\n`````x", "diff"), "``````diff\na ``` b\n`````x\n``````");
  assert.equal(fenced("plain\n"), "```\nplain\n```");
  assert.equal(inlineText("a <b>|c\nd"), "a &#60;b&#62;&#124;c d");
  const long = Array.from({ length: MAX_DIFF_LINES + 5 }, (_, i) => `+line ${i}`).join("\n");
  const cut = renderPlanMarkdown({
    ...doc(),
    clusters: [{
      ...doc().clusters[0],
      steps: [{ kind: "file", action: "update", path: "p", diff: long }],
    }],
  });
  assert.match(cut, /\+line 119\n… 5 more lines \(run fluxfleet plan to see the whole diff\)\n```/);
  assert.ok(!cut.includes("+line 120"));
});
