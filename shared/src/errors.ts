/**
 * Domain errors. They know nothing of HTTP; exactly one middleware maps them to status
 * codes. `code` is stable for our own clients; `message` is safe to show to a customer.
 */
export class DomainError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The request is malformed (400). */
export class InputError extends DomainError {}
/** The request is well-formed but cannot be honoured (422; Heroku shows the message). */
export class UnprocessableError extends DomainError {}
export class AuthenticationError extends DomainError {}
export class ForbiddenError extends DomainError {}
export class NotFoundError extends DomainError {}
/** The thing existed and is gone for good (410). */
export class GoneError extends DomainError {}
export class ConflictError extends DomainError {}
/** A dependency we must not guess around is unreachable (503; Heroku shows the message). */
export class UnavailableError extends DomainError {}
