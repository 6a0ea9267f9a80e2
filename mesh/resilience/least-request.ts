import { connectivityState as ConnectivityState, experimental, type ChannelOptions, type StatusObject } from "@grpc/grpc-js";

/**
 * A grpc-js load-balancing policy `least_request`: Envoy's (and Istio's LEAST_REQUEST) "power of two
 * choices". Each pick samples two READY replicas at random and takes the one with fewer calls in flight
 * from this channel, so a slow or stuck replica, whose calls pile up, gets fewer new ones, while load
 * stays spread (unlike "always the least loaded", which herds every client onto the same replica).
 *
 * grpc-js 1.14 ships round_robin, pick_first, weighted_round_robin and outlier_detection, not
 * least_request; custom policies go through `experimental.registerLoadBalancerType`. The structure
 * follows grpc-js's round_robin (build/src/load-balancer-round-robin.js): one LeafLoadBalancer (a
 * pick_first over one endpoint) per replica, all kept connected, the channel READY when any one is.
 * A leaf reports TRANSIENT_FAILURE while outlier_detection (our parent) has ejected it, so ejected
 * replicas drop out of the picks here too.
 *
 * Calls in flight are counted with the pick result's onCallStarted/onCallEnded hooks (PickResult in
 * picker.d.ts), per endpoint, and the counts outlive picker and address-list updates so a re-resolution
 * does not forget that a replica is busy.
 */

export const LEAST_REQUEST = "least_request";

const { LeafLoadBalancer, QueuePicker, UnavailablePicker, PickResultType, createChildChannelControlHelper, endpointToString } = experimental;
type Endpoint = experimental.Endpoint;
type Picker = experimental.Picker;
type PickArgs = experimental.PickArgs;
type PickResult = experimental.PickResult;
type ChannelControlHelper = experimental.ChannelControlHelper;
type LoadBalancer = experimental.LoadBalancer;
type TypedLoadBalancingConfig = experimental.TypedLoadBalancingConfig;
type LeafLoadBalancer = InstanceType<typeof LeafLoadBalancer>;
type StatusOr<T> = experimental.StatusOr<T>;

export class LeastRequestConfig implements TypedLoadBalancingConfig {
  /** How many replicas each pick compares: 2 (Envoy's default choice_count); more herds more. */
  constructor(readonly choiceCount = 2) {}

  getLoadBalancerName(): string {
    return LEAST_REQUEST;
  }

  toJsonObject(): object {
    return { [LEAST_REQUEST]: { choiceCount: this.choiceCount } };
  }

  static createFromJson(obj: unknown): LeastRequestConfig {
    const raw = (obj ?? {}) as { choiceCount?: unknown; choice_count?: unknown };
    const given = raw.choiceCount ?? raw.choice_count;
    if (given === undefined) return new LeastRequestConfig();
    if (typeof given !== "number" || !Number.isInteger(given) || given < 2) {
      throw new Error(`least_request config: choiceCount must be an integer of at least 2, got ${JSON.stringify(given)}`);
    }
    return new LeastRequestConfig(given);
  }
}

/** Calls in flight on one endpoint, shared by every picker the balancer hands out. */
interface Load {
  inFlight: number;
}

interface ReadyChild {
  picker: Picker;
  load: Load;
}

export class LeastRequestPicker implements Picker {
  constructor(
    private readonly children: ReadyChild[],
    private readonly choiceCount: number,
  ) {}

  pick(pickArgs: PickArgs): PickResult {
    const chosen = this.children.length === 1 ? this.children[0]! : this.choose();
    const result = chosen.picker.pick(pickArgs);
    if (result.pickResultType !== PickResultType.COMPLETE) return result;
    const { onCallStarted, onCallEnded } = result;
    const load = chosen.load;
    let started = false;
    return {
      ...result,
      onCallStarted: () => {
        started = true;
        load.inFlight++;
        onCallStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        if (started) load.inFlight--;
        started = false;
        onCallEnded?.(code, details, metadata);
      },
    };
  }

  /**
   * Samples `choiceCount` distinct children (Envoy samples with replacement; with two replicas that
   * compares a replica with itself half the time, so a busy one would still get a quarter of the calls)
   * and keeps the least loaded; ties go to the first sampled, which is random.
   */
  private choose(): ReadyChild {
    const n = this.children.length;
    const k = Math.min(this.choiceCount, n);
    const taken = new Set<number>();
    let best: ReadyChild | undefined;
    while (taken.size < k) {
      const i = Math.floor(Math.random() * n);
      if (taken.has(i)) continue;
      taken.add(i);
      const child = this.children[i]!;
      if (!best || child.load.inFlight < best.load.inFlight) best = child;
    }
    return best!;
  }
}

interface Child {
  key: string;
  leaf: LeafLoadBalancer;
  load: Load;
}

export class LeastRequestLoadBalancer implements LoadBalancer {
  private children = new Map<string, Child>();
  private state: ConnectivityState = ConnectivityState.IDLE;
  private config = new LeastRequestConfig();
  private updatesPaused = false;
  private lastError: string | null = null;
  private readonly childHelper: ChannelControlHelper;

  constructor(private readonly helper: ChannelControlHelper) {
    this.childHelper = createChildChannelControlHelper(helper, {
      updateState: (_state, _picker, errorMessage) => {
        if (errorMessage) this.lastError = errorMessage;
        this.update();
      },
    });
  }

  updateAddressList(endpoints: StatusOr<Endpoint[]>, config: TypedLoadBalancingConfig, options: ChannelOptions, resolutionNote: string): boolean {
    if (!(config instanceof LeastRequestConfig)) return false;
    this.config = config;
    if (!endpoints.ok) {
      // Keep serving from the replicas we know when a re-resolution fails (as round_robin does).
      if (this.children.size === 0) this.publish(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker(endpoints.error), endpoints.error.details);
      return true;
    }
    // Keep the leaves (and their in-flight counts) of replicas still listed; only new ones connect.
    const next = new Map<string, Child>();
    this.updatesPaused = true;
    for (const endpoint of endpoints.value) {
      const key = endpointToString(endpoint);
      const existing = this.children.get(key);
      if (existing) {
        existing.leaf.updateEndpoint(endpoint, options);
        next.set(key, existing);
        this.children.delete(key);
      } else if (!next.has(key)) {
        const leaf = new LeafLoadBalancer(endpoint, this.childHelper, options, resolutionNote);
        next.set(key, { key, leaf, load: { inFlight: 0 } });
        leaf.startConnecting();
      }
    }
    for (const gone of this.children.values()) gone.leaf.destroy();
    this.children = next;
    this.updatesPaused = false;
    if (next.size === 0) {
      const message = `least_request: no addresses resolved (${resolutionNote || "empty address list"})`;
      this.publish(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details: message } as Partial<StatusObject>), message);
      return true;
    }
    this.update();
    return true;
  }

  /** Aggregates the leaves' states the way round_robin does and hands the channel a new picker. */
  private update(): void {
    if (this.updatesPaused) return;
    const children = [...this.children.values()];
    const ready = children.filter((c) => c.leaf.getConnectivityState() === ConnectivityState.READY);
    if (ready.length > 0) {
      this.publish(ConnectivityState.READY, new LeastRequestPicker(ready.map((c) => ({ picker: c.leaf.getPicker(), load: c.load })), this.config.choiceCount), null);
    } else if (children.some((c) => c.leaf.getConnectivityState() === ConnectivityState.CONNECTING)) {
      this.publish(ConnectivityState.CONNECTING, new QueuePicker(this), null);
    } else if (children.some((c) => c.leaf.getConnectivityState() === ConnectivityState.TRANSIENT_FAILURE)) {
      const message = `least_request: no replica is reachable; last error: ${this.lastError}`;
      this.publish(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details: message } as Partial<StatusObject>), message);
    } else {
      this.publish(ConnectivityState.IDLE, new QueuePicker(this), null);
    }
    // Every replica stays connected, so a pick never waits for a connection.
    for (const c of children) if (c.leaf.getConnectivityState() === ConnectivityState.IDLE) c.leaf.exitIdle();
  }

  private publish(state: ConnectivityState, picker: Picker, errorMessage: string | null): void {
    // Losing the last READY replica asks the resolver again (a replica may have moved).
    if (this.state === ConnectivityState.READY && state !== ConnectivityState.READY) this.helper.requestReresolution();
    this.state = state;
    this.helper.updateState(state, picker, errorMessage);
  }

  exitIdle(): void {
    // IDLE only with no addresses; nothing to connect to.
  }

  resetBackoff(): void {
    // The leaves' subchannels own their backoff.
  }

  destroy(): void {
    for (const c of this.children.values()) c.leaf.destroy();
    this.children.clear();
  }

  getTypeName(): string {
    return LEAST_REQUEST;
  }
}

/** Makes `least_request` usable in service configs. Safe to call any number of times. */
export function registerLeastRequest(): void {
  if (experimental.isLoadBalancerNameRegistered(LEAST_REQUEST)) return;
  experimental.registerLoadBalancerType(LEAST_REQUEST, LeastRequestLoadBalancer, LeastRequestConfig);
}
