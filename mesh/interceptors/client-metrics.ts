import { InterceptingCall, status, type Interceptor } from "@grpc/grpc-js";
import { clientHandled, clientHandling, methodLabels } from "../metrics.js";

/** grpc_client_handled_total and grpc_client_handling_seconds, timed from the start of the call to its status. */
export function countCalls(): Interceptor {
  return (options, nextCall) => {
    const method = options.method_definition;
    const labels = { ...methodLabels(method.path), grpc_type: method.responseStream ? "server_stream" : "unary" };
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        const started = process.hrtime.bigint();
        next(metadata, {
          onReceiveStatus(received, nextStatus) {
            const grpc_code = status[received.code] ?? String(received.code);
            clientHandled.inc({ ...labels, grpc_code });
            clientHandling.observe({ ...labels, grpc_code }, Number(process.hrtime.bigint() - started) / 1e9);
            nextStatus(received);
          },
        });
      },
    });
  };
}
