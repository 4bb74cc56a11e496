/**
 * What an engine (redis today) owns, so drivers only place things: the server's config
 * files, its users, the URL and config vars clients get, sizing, readiness, and the live
 * changes a running server takes (resize, users, TLS reload). A driver decides where the
 * files, the port and the data live (`ServerLayout`) and how the server runs (a local
 * process, a pod); the engine fills that in. Adding an engine: region-agent/README.md.
 */
import type { TLSSocket } from 'node:tls';
import type { InstanceStats, Size } from '../../../shared/src/messages.js';

export interface Credentials {
  user: string;
  password: string;
}

/** The sizing an engine reads: a local instance records memory only. */
export type EngineSize = Pick<Size, 'memoryMb'> & Partial<Omit<Size, 'memoryMb'>>;

/** One instance as the engine sees it. */
export interface EngineInstance {
  uuid: string;
  size: EngineSize;
  /** Users (name → password); `currentUser` is the one in the reported URL. */
  users: Record<string, string>;
  currentUser: string;
}

/** Where a driver placed the server; the engine's config refers to these. */
export interface ServerLayout {
  port: number;
  /** Addresses to listen on; undefined: every interface (a pod). */
  bind?: string[];
  /** Directory holding the files `configFiles` returns. */
  configDir: string;
  /** What persists across restarts (the instance dir, a pod's volume). */
  dataDir: string;
  /** TLS files; no `ca` when the leaf comes without one (a publicly trusted leaf). */
  tls: { cert: string; key: string; ca?: string };
  /** Set for local processes: the server writes its pid there, its log here. */
  pidFile?: string;
  logFile?: string;
}

/** How a client reaches a running server: verified TLS to `servername`, as one user. */
export interface ServerTarget extends Credentials {
  host: string;
  port: number;
  servername: string;
  /** Trusted CA PEM(s); more than one while a CA rotates. Undefined: the system trust store. */
  ca?: string | string[];
}

/** The container a pod runs (the kubernetes driver adds mounts, ports and security). */
export interface ContainerSpec {
  image: string;
  /** Replaces the image's entrypoint when set. */
  command?: string[];
  args: string[];
  /** The uid the image's server runs as (also the data volume's fsGroup). */
  uid: number;
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  storageGb: number;
}

export interface Engine {
  /** The job's `resource.engine`; also the prefix of object and host names (`<name>-<uuid>`). */
  readonly name: string;
  /** The port the server listens on in a pod (and the Service exposes). */
  readonly port: number;
  /** Where a pod mounts the config files and the data volume. */
  readonly mounts: { config: string; data: string };
  /** Credentials for a new user of credential generation `generation`. */
  newCredentials(generation: number): Credentials;
  /** The config files (name → content) the driver writes into `layout.configDir`. */
  configFiles(instance: EngineInstance, layout: ServerLayout): Record<string, string>;
  /** A local process: the executable and its arguments. */
  process(layout: ServerLayout): { bin: string; args: string[] };
  container(instance: EngineInstance, layout: ServerLayout): ContainerSpec;
  /** Config vars without the add-on's prefix (`URL`), for a client of `endpoint`. */
  connectionConfig(
    endpoint: { host: string; port: number },
    credentials: Credentials,
  ): Record<string, string>;
  /** True when the server answers as `target.user` over verified TLS; throws the reason. */
  ready(target: ServerTarget): Promise<boolean>;
  /**
   * The same check on a connection to `target` whose verified TLS handshake just completed
   * (optional): the local driver's readiness wait uses it instead of a second connection.
   */
  readyOn?(socket: TLSSocket, target: ServerTarget): Promise<boolean>;
  /** What the running server says of itself (memory, keys, clients…); optional per engine. */
  stats?(target: ServerTarget): Promise<InstanceStats>;
  /** Live changes to a running local server, after its config files were rewritten. */
  resize(target: ServerTarget, size: EngineSize): Promise<void>;
  addUser(target: ServerTarget, user: Credentials): Promise<void>;
  removeUser(target: ServerTarget, user: string): Promise<void>;
  /** Makes a running server present the renewed leaf in `layout.tls`. */
  reloadTls(target: ServerTarget, layout: ServerLayout): Promise<void>;
}
