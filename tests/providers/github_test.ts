/** The provider contract against the GitHub sandbox (sandbox/github, real bare repositories). */
import { providerContract } from "./contract.ts";
import { forgeContract } from "../helpers/forge_contract.ts";

providerContract("github", () => forgeContract("github"));
