// `import RMQTrace` brings the whole pipeline: the model, the capture edge, the tracker and the renderers.
@_exported import RMQTraceModel
@_exported import RMQCapture
@_exported import RMQTraceCore
@_exported import RMQTraceRender
