/** A Bitbucket Server repository's resolved settings, as a manifest's defaults give them. */
import type { BitbucketSettings } from "../../lib/providers/bitbucket-server/settings.ts";

export function bitbucketSettings(
  apiUrl: string,
  over: Partial<BitbucketSettings> & { project: string; slug: string },
): BitbucketSettings {
  return {
    apiUrl,
    username: "admin",
    private: true,
    reconcileVisibility: false,
    groups: [],
    tokenAuth: false,
    readWriteKey: false,
    ...over,
  };
}
