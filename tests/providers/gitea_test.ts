/** The provider contract against the Gitea sandbox (sandbox/gitea, real bare repositories). */
import { providerContract } from "./contract.ts";
import { forgeContract } from "../helpers/forge_contract.ts";

providerContract("gitea", () => forgeContract("gitea"));
