//! An embedded sidecar that answers the Dapr HTTP API as daprd does.
