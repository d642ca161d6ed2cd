/**
 * @kubernetes/client-node pulls in node's deprecated `punycode` module, which prints a warning on
 * every run. Imported first by entry points so the warning never reaches users.
 */
import process from "node:process";
(process as { noDeprecation?: boolean }).noDeprecation = true;
