/**
 * lib/manifests/kustomize_confine.ts on real folders: what a user's kustomization.yaml may name
 * (files and folders of the repository, through other kustomizations) and what is refused before
 * kubectl runs (links, remote, absolute and outside paths), with the real `kubectl kustomize`
 * building what is accepted.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { assertKustomizationConfined } from "../lib/manifests/kustomize_confine.ts";
import { kustomizeBuild } from "../lib/manifests/kustomize.ts";

const FOLDER = "clusters/c0/flux-system";
const CM = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: flux-system\n`;

/** A repository folder with `files` (text, or {link}) and a folder `outside` next to it. */
async function withRepo(
  files: Record<string, string | { link: string }>,
  fn: (root: string, outside: string) => Promise<void>,
) {
  const top = await Deno.makeTempDir({ prefix: "fluxfleet-kconfine-" });
  try {
    const root = `${top}/repo`;
    const outside = `${top}/outside`;
    await Deno.mkdir(outside, { recursive: true });
    await Deno.writeTextFile(`${outside}/kustomization.yaml`, "resources:\n- cm.yaml\n");
    await Deno.writeTextFile(`${outside}/cm.yaml`, CM("outside"));
    for (const [path, entry] of Object.entries(files)) {
      const full = `${root}/${path}`;
      await Deno.mkdir(dirname(full), { recursive: true });
      if (typeof entry === "string") {
        await Deno.writeTextFile(full, entry.replaceAll("@OUT", outside));
      } else await Deno.symlink(entry.link.replaceAll("@OUT", outside), full);
    }
    await fn(root, outside);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
}

function kustomization(lines: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n${lines}`;
}

Deno.test("kustomize confinement: files and folders of the repository are built, also through bases", async () => {
  await withRepo({
    [`${FOLDER}/kustomization.yaml`]: kustomization(
      "resources:\n- cm.yaml\n- ../../../base\ncomponents:\n- ../../../component\n" +
        "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata:\n    name: inline\n  literals: [a=b]\n",
    ),
    [`${FOLDER}/cm.yaml`]: CM("own"),
    "base/kustomization.yaml": kustomization("resources:\n- nested\n"),
    "base/nested/kustomization.yml": kustomization("resources:\n- cm.yaml\n"),
    "base/nested/cm.yaml": CM("nested"),
    "component/kustomization.yaml":
      "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" +
      "commonLabels:\n  component: applied\n",
  }, async (root) => {
    await assertKustomizationConfined(root, FOLDER);
    const built = await kustomizeBuild(root, FOLDER);
    // The generated ConfigMap's name carries kustomize's content hash.
    const names = built.map((o) => o.metadata.name.replace(/-[a-z0-9]{10}$/, "")).sort();
    assert.deepEqual(names, ["inline", "nested", "own"]);
    // The component from the repository was applied to all of them.
    assert.ok(built.every((o) => o.metadata.labels?.component === "applied"));
  });
});

Deno.test("kustomize confinement: links, remote, absolute and outside paths are refused, naming file and entry", async () => {
  const K = `${FOLDER}/kustomization.yaml`;
  const cases: [string, Record<string, string | { link: string }>, string][] = [
    [
      "a link to a folder outside",
      { [K]: kustomization("resources:\n- extra\n"), [`${FOLDER}/extra`]: { link: "@OUT" } },
      `${K} refers to "extra": ${FOLDER}/extra is a symbolic link in the repository; fluxfleet does not follow links`,
    ],
    [
      "a link to a file outside",
      {
        [K]: kustomization("resources:\n- cm.yaml\n"),
        [`${FOLDER}/cm.yaml`]: { link: "@OUT/cm.yaml" },
      },
      `${K} refers to "cm.yaml": ${FOLDER}/cm.yaml is a symbolic link in the repository; fluxfleet does not follow links`,
    ],
    [
      "the kustomization file itself a link",
      { [K]: { link: "@OUT/kustomization.yaml" } },
      `${K} is a symbolic link in the repository; fluxfleet does not follow links`,
    ],
    [
      "the cluster's folder reached through a link",
      { "clusters/c0": { link: "@OUT" } },
      "clusters/c0 is a symbolic link in the repository; fluxfleet does not follow links",
    ],
    [
      "a relative path out of the repository",
      { [K]: kustomization("resources:\n- ../../../../outside\n") },
      `${K}: "../../../../outside" is outside the repository; fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does`,
    ],
    [
      "an absolute path",
      { [K]: kustomization("resources:\n- /etc\n") },
      `${K}: "/etc" is outside the repository; fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does`,
    ],
    [
      "a remote base",
      { [K]: kustomization("components:\n- https://github.com/org/repo//base?ref=v1\n") },
      `${K}: "https://github.com/org/repo//base?ref=v1" is remote; fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does: copy it into the repository`,
    ],
    [
      "an scp-like remote",
      { [K]: kustomization("resources:\n- git@github.com:org/repo.git\n") },
      `${K}: "git@github.com:org/repo.git" is remote; fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does: copy it into the repository`,
    ],
    [
      "a name kustomize would clone",
      { [K]: kustomization("bases:\n- github.com/org/repo\n") },
      `${K}: "github.com/org/repo" is neither a file nor a folder of the repository; fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does`,
    ],
    [
      "a link deep in a base of the repository",
      {
        [K]: kustomization("resources:\n- ../../../base\n"),
        "base/kustomization.yaml": kustomization("transformers:\n- more\n"),
        "base/more": { link: "@OUT" },
      },
      `base/kustomization.yaml refers to "more": base/more is a symbolic link in the repository; fluxfleet does not follow links`,
    ],
  ];
  for (const [what, files, message] of cases) {
    await withRepo(files, async (root, outside) => {
      await assert.rejects(
        assertKustomizationConfined(root, FOLDER),
        (e: Error) => {
          assert.equal(e.message, message, what);
          return true;
        },
        what,
      );
      // kustomizeBuild checks first: kubectl never sees the folder.
      const err = await kustomizeBuild(root, FOLDER).then(() => null, (e: Error) => e);
      assert.equal(err?.message, message, what);
      assert.ok(!err.message.includes(outside), what);
    });
  }
});
