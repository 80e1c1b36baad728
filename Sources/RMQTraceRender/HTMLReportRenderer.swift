import RMQTraceModel
import RMQTraceCore
import RocketMQRemoting

/// A self-contained HTML report of a run (opens with no network: no external scripts, styles or fonts): the
/// swimlane timeline as SVG (zoom with the wheel, pan by dragging, an exchange's details on hover and click),
/// per queue the broker max offset and the committed offset over time with the lag as an area, the allocation
/// of queues to clients over time, the latency distribution per request code, the findings (each linking to
/// its exchanges) and the summary tables of the text output. What it cannot draw one by one (beyond
/// `maxExchanges`) it aggregates, and says so.
///
/// The data is embedded as JSON (`reportData`, also what the golden tests compare); a small script draws it.
public struct HTMLReportRenderer: TraceRenderer, Sendable {
    public var maxExchanges: Int
    public var maxPointsPerQueue: Int
    public var filter: TraceFilter
    public var title: String

    struct Exchange: Sendable {
        var request: Int
        var response: Int?
        var t0: Int64
        var t1: Int64
        var from: String
        var to: String
        var code: Int32
        var label: String
        var answer: String
        var ok: Bool
        var phase: String
        var latency: Int64?
    }
    struct QueueSeries: Sendable {
        var points: [(t: Int64, max: Int64?, committed: Int64?)] = []
        var owners: [(t: Int64, client: String)] = []
        var lastMax: Int64?
        var lastCommitted: Int64?
    }

    private var participants: [String] = []
    private var roles: [String: Role] = [:]
    private var exchanges: [Exchange] = []
    private var exchangesLeftOut = 0
    private var exchangesSeen = 0
    private var queues: [String: QueueSeries] = [:]
    private var queueOrder: [String] = []
    private var latencyBuckets: [Int32: [Int]] = [:]
    private var marks: [(t: Int64, text: String)] = []
    private var firstTime: Int64?
    private var lastTime: Int64?

    public init(maxExchanges: Int = 5000, maxPointsPerQueue: Int = 2000, filter: TraceFilter = TraceFilter(), title: String = "rmq-trace report") {
        self.maxExchanges = maxExchanges
        self.maxPointsPerQueue = maxPointsPerQueue
        self.filter = filter
        self.title = title
    }

    // MARK: collecting

    public mutating func render(_ event: TraceEvent) -> [String] {
        switch event {
        case .frame(let f):
            note(time: f.time)
            observeProgress(f)
            if f.command.isResponse {
                guard let req = f.request, filter.matches(f) else { return [] }
                add(f, request: req.frameIndex, response: f.index, t0: req.time, code: req.code, header: req.header,
                    answer: Describe.answer(f), ok: f.command.code == ResponseCode.success || f.command.code == ResponseCode.pullNotFound
                        || f.command.code == ResponseCode.pullRetryImmediately)
            } else if f.command.isOneway, filter.matches(f) {
                add(f, request: f.index, response: nil, t0: f.time, code: f.command.code, header: f.header, answer: "(oneway)", ok: true)
            }
        case .unanswered(let f, let reason, _):
            guard filter.matches(f) else { return [] }
            add(f, request: f.index, response: nil, t0: f.time, code: f.command.code, header: f.header, answer: "no answer: \(reason)", ok: false)
        default:
            break
        }
        return []
    }

    private mutating func note(time: CaptureTime) {
        if firstTime == nil { firstTime = time.nanoseconds }
        lastTime = max(lastTime ?? time.nanoseconds, time.nanoseconds)
    }

    private mutating func participant(_ name: String, _ role: Role) -> String {
        if roles[name] == nil {
            participants.append(name)
            roles[name] = role
        }
        return name
    }

    private mutating func add(_ f: FrameRecord, request: Int, response: Int?, t0: CaptureTime, code: Int32, header: TypedHeader?,
                              answer: String, ok: Bool) {
        exchangesSeen += 1
        let latency = response == nil ? nil : f.latencyNanos
        if let latency {
            // Bucket b > 0 holds latencies in [2^(b-1), 2^b) µs; bucket 0 those under 1 µs.
            let micros = UInt64(max(0, latency / 1000))
            let bucket = micros == 0 ? 0 : min(40, 64 - micros.leadingZeroBitCount)
            var b = latencyBuckets[code] ?? Array(repeating: 0, count: 41)
            b[max(0, bucket)] += 1
            latencyBuckets[code] = b
        }
        if code == RequestCode.getConsumerListByGroup, let a = f.annotation { marks.append((f.time.nanoseconds, a)) }
        guard exchanges.count < maxExchanges else { exchangesLeftOut += 1; return }
        let ends = ExchangeEnds(f)
        let from = participant(ends.requester, ends.requesterRole)
        let to = participant(ends.answerer, ends.answererRole)
        let fields = Describe.requestFields(code: code, header: header, body: f.request?.body ?? f.body, extFields: nil)
        exchanges.append(Exchange(request: request, response: response, t0: t0.nanoseconds, t1: f.time.nanoseconds, from: from, to: to,
                                  code: code, label: RequestCode.name(code) + (fields.isEmpty ? "" : " " + fields), answer: answer, ok: ok,
                                  phase: f.phase.rawValue, latency: latency))
    }

    /// Broker max and committed offsets per queue, and who pulls it, over time.
    private mutating func observeProgress(_ f: FrameRecord) {
        guard let header = f.requestHeader, let topic = header.topic, let queueId = header.queueId, let group = header.consumerGroup else { return }
        let broker = f.command.isResponse ? f.source : f.destination
        let key = "\(group) \(topic)#\(queueId) @\(broker)"
        if queues[key] == nil {
            guard queues.count < 512 else { return }
            queues[key] = QueueSeries()
            queueOrder.append(key)
        }
        var q = queues[key]!
        var changed = false
        switch (f.command.isResponse, header) {
        case (false, .updateConsumerOffset(let h)):
            if q.lastCommitted != h.commitOffset { q.lastCommitted = h.commitOffset; changed = true }
        case (false, .pullMessage(let h)):
            if h.sysFlag.contains(.commitOffset), q.lastCommitted != h.commitOffset { q.lastCommitted = h.commitOffset; changed = true }
            if let client = f.client, q.owners.last?.client != client { q.owners.append((f.time.nanoseconds, client)) }
        case (true, .pullMessage):
            if case .pullMessageResponse(let r)? = f.header, q.lastMax != r.maxOffset { q.lastMax = r.maxOffset; changed = true }
        case (true, .queryConsumerOffset):
            if case .offsetResponse(let r)? = f.header, q.lastCommitted == nil { q.lastCommitted = r.offset; changed = true }
        default:
            break
        }
        if changed {
            if q.points.count >= maxPointsPerQueue { q.points.removeFirst(q.points.count / 2) }  // keep the recent half
            q.points.append((f.time.nanoseconds, q.lastMax, q.lastCommitted))
        }
        queues[key] = q
    }

    // MARK: output

    /// The report's data, as embedded in the page (and compared by the golden tests).
    public func reportData(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> JSONValue {
        func num<T: BinaryInteger>(_ v: T?) -> JSONValue { v.map { .number(String($0)) } ?? .null }
        let t0 = firstTime ?? 0
        func ms(_ t: Int64) -> JSONValue { .number(String(format3((Double(t - t0)) / 1e6))) }
        let order: (Role) -> Int = { $0 == .nameServer ? 0 : ($0 == .broker ? 1 : 2) }
        let lanes = participants.enumerated().sorted { (order(roles[$0.element] ?? .unknown), $0.offset) < (order(roles[$1.element] ?? .unknown), $1.offset) }
            .map(\.element)
        let laneOf = Dictionary(uniqueKeysWithValues: lanes.enumerated().map { ($1, $0) })
        let ex: [JSONValue] = exchanges.map { e in
            .object([JSONMember("req", num(e.request)), JSONMember("resp", num(e.response)), JSONMember("t0", ms(e.t0)), JSONMember("t1", ms(e.t1)),
                     JSONMember("from", num(laneOf[e.from])), JSONMember("to", num(laneOf[e.to])), JSONMember("label", .string(e.label)),
                     JSONMember("answer", .string(e.answer)), JSONMember("ok", .bool(e.ok)), JSONMember("phase", .string(e.phase)),
                     JSONMember("latency_ms", e.latency.map { .number(format3(Double($0) / 1e6)) } ?? .null)])
        }
        let qs: [JSONValue] = queueOrder.map { key in
            let q = queues[key]!
            return .object([
                JSONMember("queue", .string(key)),
                JSONMember("points", .array(q.points.map { .array([ms($0.t), num($0.max), num($0.committed)]) })),
                JSONMember("owners", .array(q.owners.map { .array([ms($0.t), .string($0.client)]) })),
            ])
        }
        let lat: [JSONValue] = latencyBuckets.keys.sorted().map { code in
            .object([JSONMember("code", num(code)), JSONMember("name", .string(RequestCode.name(code))),
                     JSONMember("buckets", .array((latencyBuckets[code] ?? []).map { num($0) }))])
        }
        let fs: [JSONValue] = findings.map { f in
            .object([JSONMember("severity", .string(f.severity.rawValue)), JSONMember("kind", .string(f.kind)), JSONMember("message", .string(f.message)),
                     JSONMember("frames", .array(f.frames.map { num($0) })), JSONMember("t", f.time.map { ms($0.nanoseconds) } ?? .null)])
        }
        var summary = TextRenderer(color: false, filter: TraceFilter()).summary(statistics: statistics, analyzer: analyzer, findings: findings, source: source)
        if summary.first == "" { summary.removeFirst() }
        return .object([
            JSONMember("title", .string(title)), JSONMember("source", .string(source ?? "")),
            JSONMember("start", .string(firstTime.map { Describe.dateTime(CaptureTime(nanoseconds: $0)) + " (" + Describe.time(CaptureTime(nanoseconds: $0)) + ")" } ?? "")),
            JSONMember("duration_ms", ms(lastTime ?? t0)),
            JSONMember("lanes", .array(lanes.map { name in
                let role = roles[name] ?? .unknown
                return .string(role == .nameServer ? "namesrv \(name)" : (role == .broker ? "broker \(name)" : name))
            })),
            JSONMember("exchanges", .array(ex)), JSONMember("exchanges_total", num(exchangesSeen)),
            JSONMember("exchanges_left_out", num(exchangesLeftOut)),
            JSONMember("rebalances", .array(marks.map { .array([ms($0.t), .string($0.text)]) })),
            JSONMember("queues", .array(qs)), JSONMember("latency", .array(lat)), JSONMember("findings", .array(fs)),
            JSONMember("summary", .string(summary.joined(separator: "\n"))),
        ])
    }

    public mutating func finish(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String] {
        let data = reportData(statistics: statistics, analyzer: analyzer, findings: findings, source: source).compactText
        // `</` inside the JSON would end the script element.
        let safe = Self.escapeScriptEnd(data)
        return [Self.page(title: Self.escapeHTML(title + (source.map { ": " + $0 } ?? "")), data: safe)]
    }

    /// `</` written as `<\/` so that the JSON cannot end its script element.
    static func escapeScriptEnd(_ s: String) -> String {
        var out = ""
        var previous: Character = " "
        for c in s {
            if previous == "<" && c == "/" { out.append("\\") }
            out.append(c)
            previous = c
        }
        return out
    }

    static func escapeHTML(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    static func page(title: String, data: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:13px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
        header{padding:12px 20px;background:#1d2330;color:#fff}header h1{font-size:16px;margin:0}header p{margin:4px 0 0;color:#c6ccd8}
        section{margin:14px 20px;background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:10px 14px}
        h2{font-size:14px;margin:0 0 8px}svg{display:block;width:100%}
        #swim{height:520px;cursor:grab;border:1px solid #eef0f4}#swim text{font-size:11px}
        .lane{stroke:#c9d1dd;stroke-width:1}.lanelabel{font-weight:600;fill:#333}
        .ex{stroke:#3b7dd8;stroke-width:1.4}.ex.bad{stroke:#d83b3b}.ex.hl{stroke:#f0a202;stroke-width:4}
        #tip{position:fixed;pointer-events:none;background:#1d2330;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;max-width:520px;display:none;z-index:9}
        #detail{font-family:ui-monospace,Menlo,monospace;font-size:12px;white-space:pre-wrap;background:#f4f6f9;padding:6px;min-height:1.4em}
        .finding{padding:4px 6px;border-left:4px solid #999;margin:3px 0;cursor:pointer}.finding:hover{background:#f4f6f9}
        .finding.error{border-color:#d83b3b}.finding.warning{border-color:#f0a202}.finding.info{border-color:#3b7dd8}
        pre{font-size:11.5px;overflow:auto}.note{color:#666;font-style:italic}.legend span{margin-right:14px}
        </style></head><body>
        <header><h1 id="title"></h1><p id="sub"></p></header>
        <section><h2>Timeline (wheel: zoom, drag: pan, hover or click an arrow)</h2><p class="note" id="agg"></p>
        <svg id="swim" role="img" aria-label="swimlane timeline"></svg><div id="detail"></div></section>
        <section><h2>Offsets and lag per queue</h2><p class="legend"><span style="color:#3b7dd8">— broker max offset</span><span style="color:#2a9d5c">— committed offset</span><span style="color:#d83b3b">▇ lag</span><span style="color:#8a5cd8">┆ rebalance</span></p><svg id="lag" role="img" aria-label="lag chart"></svg></section>
        <section><h2>Allocation of queues to clients over time</h2><svg id="alloc" role="img" aria-label="allocation chart"></svg></section>
        <section><h2>Latency per request code (log₂ buckets)</h2><svg id="latency" role="img" aria-label="latency distribution"></svg></section>
        <section><h2>Findings</h2><div id="findings"></div></section>
        <section><h2>Summary</h2><pre id="summary"></pre></section>
        <div id="tip"></div><div id="selftest" hidden></div>
        <script type="application/json" id="report-data">\(data)</script>
        <script>
        "use strict";
        window.reportErrors=[];window.addEventListener("error",function(e){window.reportErrors.push(String(e.message))});
        (function(){
        const D=JSON.parse(document.getElementById("report-data").textContent);
        const NS="http://www.w3.org/2000/svg";
        function el(n,a,p){const e=document.createElementNS(NS,n);for(const k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e}
        function txt(n,s,a,p){const e=el(n,a,p);e.textContent=s;return e}
        document.getElementById("title").textContent=D.title;
        document.getElementById("sub").textContent=D.source+" — "+D.start+", "+(D.duration_ms/1000).toFixed(3)+" s, "+D.exchanges_total+" exchanges";
        if(D.exchanges_left_out>0)document.getElementById("agg").textContent="Only the first "+D.exchanges.length+" exchanges are drawn one by one; "+D.exchanges_left_out+" more are counted in the summary and the latency chart.";
        // Swimlanes.
        const sw=document.getElementById("swim"),W=1200,H=520,top=40,left=10,lanes=D.lanes.length||1;
        const laneX=i=>left+80+(W-180)*(lanes>1?i/(lanes-1):0.5);
        const dur=Math.max(D.duration_ms,1),y=t=>top+(H-top-20)*(t/dur);
        sw.setAttribute("viewBox","0 0 "+W+" "+H);
        const g=el("g",{},sw);
        D.lanes.forEach((n,i)=>{el("line",{x1:laneX(i),x2:laneX(i),y1:top-6,y2:H-10,class:"lane"},g);txt("text",n.length>34?n.slice(0,33)+"…":n,{x:laneX(i),y:16+(i%2)*14,"text-anchor":"middle",class:"lanelabel"},g)});
        const tip=document.getElementById("tip"),detail=document.getElementById("detail"),byFrame={};
        function describe(e){return e.label+"\\n=> "+e.answer+(e.latency_ms!=null?" ("+e.latency_ms+" ms)":"")+"\\nframes #"+e.req+(e.resp!=null?"/#"+e.resp:"")+", phase "+e.phase+", at +"+e.t0+" ms"}
        D.exchanges.forEach((e,k)=>{
          const l=el("line",{x1:laneX(e.from),y1:y(e.t0),x2:laneX(e.to),y2:y(e.t1),class:"ex"+(e.ok?"":" bad"),"data-k":k,id:"ex"+k},g);
          l.addEventListener("mousemove",ev=>{tip.style.display="block";tip.style.left=(ev.clientX+12)+"px";tip.style.top=(ev.clientY+12)+"px";tip.textContent=describe(e)});
          l.addEventListener("mouseleave",()=>{tip.style.display="none"});
          l.addEventListener("click",()=>select(k));
          byFrame[e.req]=k;if(e.resp!=null)byFrame[e.resp]=k;
        });
        let vb={x:0,y:0,w:W,h:H};
        function setVB(){sw.setAttribute("viewBox",vb.x+" "+vb.y+" "+vb.w+" "+vb.h)}
        sw.addEventListener("wheel",ev=>{ev.preventDefault();const f=ev.deltaY>0?1.2:1/1.2;const r=sw.getBoundingClientRect();
          const py=vb.y+vb.h*((ev.clientY-r.top)/r.height);vb.h=Math.min(H,Math.max(8,vb.h*f));vb.y=Math.max(0,Math.min(H-vb.h,py-vb.h*((ev.clientY-r.top)/r.height)));setVB()},{passive:false});
        let drag=null;sw.addEventListener("mousedown",ev=>{drag={y:ev.clientY,vy:vb.y}});window.addEventListener("mouseup",()=>{drag=null});
        window.addEventListener("mousemove",ev=>{if(!drag)return;const r=sw.getBoundingClientRect();vb.y=Math.max(0,Math.min(H-vb.h,drag.vy-(ev.clientY-drag.y)*vb.h/r.height));setVB()});
        let selected=null;
        function select(k){if(selected!=null){const o=document.getElementById("ex"+selected);if(o)o.classList.remove("hl")}selected=k;const l=document.getElementById("ex"+k);if(!l)return;
          l.classList.add("hl");detail.textContent=describe(D.exchanges[k]);const e=D.exchanges[k];const c=y((e.t0+e.t1)/2);
          vb.h=Math.min(vb.h,H/4);vb.y=Math.max(0,Math.min(H-vb.h,c-vb.h/2));setVB();sw.scrollIntoView({block:"center"});}
        window.selectExchange=select;
        // Lag per queue.
        const lag=document.getElementById("lag"),LW=1200,rowH=70;
        lag.setAttribute("viewBox","0 0 "+LW+" "+Math.max(rowH,D.queues.length*rowH));
        const tx=t=>220+(LW-240)*(t/dur);
        D.queues.forEach((q,i)=>{
          const y0=i*rowH+8,h=rowH-20;let mx=1,mn=Infinity;
          q.points.forEach(p=>{[p[1],p[2]].forEach(v=>{if(v!=null){mx=Math.max(mx,v);mn=Math.min(mn,v)}})});if(mn===Infinity)mn=0;
          const yy=v=>y0+h-(h*(v-mn)/Math.max(1,mx-mn));
          txt("text",q.queue.length>36?q.queue.slice(0,35)+"…":q.queue,{x:4,y:y0+h/2,"font-size":11},lag);
          el("rect",{x:220,y:y0,width:LW-240,height:h,fill:"none",stroke:"#eef0f4"},lag);
          let lastMax=null,lastCom=null,maxPts=[],comPts=[],area=[];
          q.points.forEach(p=>{const x=tx(p[0]);if(p[1]!=null)lastMax=p[1];if(p[2]!=null)lastCom=p[2];
            if(lastMax!=null)maxPts.push(x+","+yy(lastMax));if(lastCom!=null)comPts.push(x+","+yy(lastCom));
            if(lastMax!=null&&lastCom!=null)area.push([x,yy(lastMax),yy(lastCom)])});
          if(area.length>1){const d="M"+area.map(a=>a[0]+","+a[1]).join("L")+"L"+area.slice().reverse().map(a=>a[0]+","+a[2]).join("L")+"Z";el("path",{d:d,fill:"#d83b3b",opacity:0.25},lag)}
          if(maxPts.length)el("polyline",{points:maxPts.join(" "),fill:"none",stroke:"#3b7dd8","stroke-width":1.5},lag);
          if(comPts.length)el("polyline",{points:comPts.join(" "),fill:"none",stroke:"#2a9d5c","stroke-width":1.5},lag);
          D.rebalances.forEach(r=>{el("line",{x1:tx(r[0]),x2:tx(r[0]),y1:y0,y2:y0+h,stroke:"#8a5cd8","stroke-dasharray":"3,3"},lag)});
        });
        // Allocation.
        const al=document.getElementById("alloc"),AH=22,palette=["#3b7dd8","#2a9d5c","#f0a202","#8a5cd8","#d83b3b","#1aa3a3","#b5651d","#666"],colors={};
        al.setAttribute("viewBox","0 0 "+LW+" "+Math.max(AH,D.queues.length*AH+24));
        D.queues.forEach((q,i)=>{const y0=i*AH+4;txt("text",q.queue.length>36?q.queue.slice(0,35)+"…":q.queue,{x:4,y:y0+13,"font-size":11},al);
          q.owners.forEach((o,j)=>{const end=j+1<q.owners.length?q.owners[j+1][0]:dur;if(!(o[1] in colors))colors[o[1]]=palette[Object.keys(colors).length%palette.length];
            const r=el("rect",{x:tx(o[0]),y:y0,width:Math.max(1,tx(end)-tx(o[0])),height:AH-6,fill:colors[o[1]]},al);txt("title",o[1]+" from +"+o[0]+" ms",{},r)})});
        let lx=220;Object.keys(colors).forEach(c=>{el("rect",{x:lx,y:D.queues.length*AH+8,width:10,height:10,fill:colors[c]},al);txt("text",c,{x:lx+14,y:D.queues.length*AH+17,"font-size":11},al);lx+=14+c.length*6.5+16});
        // Latency.
        const la=document.getElementById("latency"),BW=14,LH=60;
        la.setAttribute("viewBox","0 0 "+LW+" "+Math.max(LH,D.latency.length*LH+20));
        D.latency.forEach((c,i)=>{const y0=i*LH+4,mx=Math.max(1,...c.buckets);txt("text",c.name,{x:4,y:y0+LH/2,"font-size":11},la);
          c.buckets.forEach((n,b)=>{if(!n)return;const h=(LH-16)*n/mx;const r=el("rect",{x:240+b*BW*1.6,y:y0+LH-12-h,width:BW,height:h,fill:"#3b7dd8"},la);
            txt("title",n+" within "+(b===0?"1 µs":(Math.pow(2,b-1)/1000).toFixed(3)+" ms")+"..",{},r)})});
        txt("text","1 µs … 2^40 µs (each bar doubles)",{x:240,y:Math.max(LH,D.latency.length*LH+14),"font-size":10,fill:"#666"},la);
        // Findings.
        const fl=document.getElementById("findings");
        if(!D.findings.length)fl.textContent="none";
        D.findings.forEach((f,i)=>{const d=document.createElement("div");d.className="finding "+f.severity;d.id="finding"+i;
          d.textContent="["+f.severity+"] "+f.kind+": "+f.message+(f.frames.length?" [frames "+f.frames.map(x=>"#"+x).join(",")+"]":"");
          d.addEventListener("click",()=>{const k=f.frames.map(x=>byFrame[x]).find(x=>x!=null);if(k!=null)select(k)});fl.appendChild(d)});
        document.getElementById("summary").textContent=D.summary;
        // Self-test (headless checks): sizes of the drawings, and a click on the first finding with frames.
        if(location.hash==="#selftest"){const st=document.getElementById("selftest");const size=id=>{const b=document.getElementById(id).getBoundingClientRect();return [Math.round(b.width),Math.round(b.height)]};
          const fi=D.findings.findIndex(f=>f.frames.some(x=>byFrame[x]!=null));let clicked=null;
          if(fi>=0){document.getElementById("finding"+fi).click();clicked=selected}
          st.setAttribute("data-result",JSON.stringify({errors:window.reportErrors,swim:size("swim"),lag:size("lag"),alloc:size("alloc"),latency:size("latency"),
            arrows:document.querySelectorAll("#swim line.ex").length,lagPaths:document.querySelectorAll("#lag polyline").length,allocRects:document.querySelectorAll("#alloc rect").length,
            finding:fi,selected:clicked,highlighted:document.querySelectorAll("#swim line.hl").length,viewBox:sw.getAttribute("viewBox")}))}
        })();
        </script></body></html>
        """
    }
}

/// Three decimals, no Foundation.
func format3(_ v: Double) -> String {
    let neg = v < 0
    let scaled = Int64((abs(v) * 1000).rounded())
    let s = "\(scaled / 1000).\(String(repeating: "0", count: 3 - String(scaled % 1000).count))\(scaled % 1000)"
    return neg ? "-" + s : s
}
