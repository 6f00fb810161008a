const c0 = process.cpuUsage()
for (const m of process.argv.slice(2)) { const c = process.cpuUsage(); await import(m); const d = process.cpuUsage(c); console.log(m, ((d.user+d.system)/1000).toFixed(1)) }
const d = process.cpuUsage(c0); console.log('total cpu ms', ((d.user+d.system)/1000).toFixed(1))
