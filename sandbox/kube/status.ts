/**
 * Kubernetes `Status` error objects, shaped exactly like kube-apiserver's so clients that parse
 * `reason`/`code`/`details` (client-go, client-node, kubectl) behave as against a real cluster.
 */

export type JsonObject = Record<string, unknown>;

export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/** Thrown by request handlers; converted to a Status response at the edge. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): JsonObject {
    const status: JsonObject = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
    };
    if (this.details) status.details = this.details;
    status.code = this.code;
    return status;
  }
}

/** Names a resource the way apiserver messages do: `secrets`, `deployments.apps`. */
export interface ResourceName {
  group: string;
  resource: string;
}

function qualified(r: ResourceName): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

function details(r: ResourceName, name: string): StatusDetails {
  const d: StatusDetails = { name };
  if (r.group) d.group = r.group;
  d.kind = r.resource;
  return d;
}

export function notFound(r: ResourceName, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualified(r)} "${name}" not found`, details(r, name));
}

export function alreadyExists(r: ResourceName, name: string): ApiError {
  return new ApiError(
    409,
    "AlreadyExists",
    `${qualified(r)} "${name}" already exists`,
    details(r, name),
  );
}

export function conflict(r: ResourceName, name: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; ` +
      "please apply your changes to the latest version and try again",
    details(r, name),
  );
}

/** 422 as apiserver's field validation reports it: `Kind "name" is invalid: field: Required value…`. */
export function invalid(
  kind: string,
  group: string,
  name: string,
  causes: StatusCause[],
): ApiError {
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  const d: StatusDetails = { name, kind, causes };
  if (group) d.group = group;
  return new ApiError(
    422,
    "Invalid",
    `${kind}${group ? "." + group : ""} "${name}" is invalid: ${summary}`,
    d,
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

/** The generic 404 for paths that name no known resource. */
export function unknownPath(): ApiError {
  return new ApiError(404, "NotFound", "the server could not find the requested resource", {});
}

export function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
    {},
  );
}

export function unsupportedMediaType(accepted: string[]): ApiError {
  return new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${
      accepted.join(", ")
    }`,
  );
}

export function unauthorized(): ApiError {
  return new ApiError(401, "Unauthorized", "Unauthorized");
}

/** 403 with the same wording as RBAC denials, so callers can match on it. */
export function forbidden(
  user: string,
  verb: string,
  r: ResourceName,
  name: string | undefined,
  namespace: string | undefined,
): ApiError {
  const subject = name ? `${qualified(r)} "${name}"` : qualified(r);
  const scope = namespace ? `in the namespace "${namespace}"` : "at the cluster scope";
  const d: StatusDetails = {};
  if (name) d.name = name;
  if (r.group) d.group = r.group;
  d.kind = r.resource;
  return new ApiError(
    403,
    "Forbidden",
    `${subject} is forbidden: User "${user}" cannot ${verb} resource "${r.resource}" ` +
      `in API group "${r.group}" ${scope}`,
    d,
  );
}

/** Success Status returned by DELETE for objects that vanish immediately. */
export function deletedStatus(r: ResourceName, name: string, uid: string): JsonObject {
  const d: JsonObject = { name };
  if (r.group) d.group = r.group;
  d.kind = r.resource;
  d.uid = uid;
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: d };
}
