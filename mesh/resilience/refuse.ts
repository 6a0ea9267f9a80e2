import { Metadata, type InterceptingListener, type NextCall, type status } from "@grpc/grpc-js";

type InterceptingCallInterface = ReturnType<NextCall>;

/**
 * Ends a client call that an interceptor decided not to start (circuit open, bulkhead full), with `code`
 * and `details`, as if the server had answered so.
 *
 * The status goes to the caller's listener on the next tick: grpc-js's client (client.js) calls
 * sendMessage and halfClose right after start, and those must find the call still open (they are kept
 * pending by InterceptingCall since start never called next). The call below is then cancelled: it was
 * created but never started, and grpc-js arms its deadline timer at creation (resolving-call.js, not
 * unref'd), so left alone it would keep the process alive until the deadline. Nobody listens to it, so
 * the cancellation reports nothing twice.
 */
export function refuseCall(call: InterceptingCallInterface, listener: InterceptingListener, code: status, details: string): void {
  process.nextTick(() => listener.onReceiveStatus({ code, details, metadata: new Metadata() }));
  call.cancelWithStatus(code, details);
}
