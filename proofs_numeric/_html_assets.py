"""Inline style sheet and filter script of the HTML verdict report (no network, no framework)."""

from __future__ import annotations

from .plotstyle import VERDICT_COLOURS as VERDICT_COLOURS

__all__ = ["CSS", "SCRIPT", "VERDICT_COLOURS"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;
color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin:.2em 0 .4em}
.meta{color:#555;font-size:.9em}
.badge{display:inline-block;color:#fff;border-radius:3px;padding:0 .45em;font-size:.85em;font-weight:600}
.badge.unpinned{outline:2px dashed #D55E00;outline-offset:1px;cursor:help}
table.grid{border-collapse:collapse;width:100%;font-size:.9em}
table.grid th,table.grid td{border-bottom:1px solid #e3e3e3;padding:.3em .45em;text-align:left;vertical-align:top}
table.grid thead th{position:sticky;top:0;background:#f6f6f6}
table.kv{border-collapse:collapse;width:100%;font-size:.92em}
table.kv th{width:14em;text-align:left;vertical-align:top;color:#444;font-weight:600;padding:.2em .6em .2em 0}
table.kv td{padding:.2em 0}
section.claim{border:1px solid #e3e3e3;border-radius:4px;padding:.6em .9em;margin:.8em 0}
section.claim:target{outline:2px solid #0072B2}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;padding:.5em;font-size:.82em;max-height:24em;overflow:auto}
code.tex{color:#a00}
#filters{margin:.5em 0 .8em;display:flex;gap:1em;flex-wrap:wrap;align-items:center}
#filters input{width:16em}
math{font-size:1.05em}
#claims td:first-child code{word-break:break-all}#claims td:first-child{max-width:16em}
#claims td:last-child{min-width:20em}#claims td:nth-child(3){max-width:26em;overflow-x:auto}
"""

SCRIPT = """
(function(){
  var paper=document.getElementById('f-paper'),verdict=document.getElementById('f-verdict'),
      text=document.getElementById('f-text'),count=document.getElementById('f-count');
  function apply(){
    var p=paper.value,v=verdict.value,t=text.value.toLowerCase(),shown=0,
        rows=document.querySelectorAll('#claims tbody tr'),secs=document.querySelectorAll('section.claim');
    rows.forEach(function(r){
      var ok=(!p||r.dataset.paper===p)&&(!v||r.dataset.verdict===v)&&(!t||r.textContent.toLowerCase().indexOf(t)>=0);
      r.style.display=ok?'':'none'; if(ok) shown++;
    });
    secs.forEach(function(s){
      var ok=(!p||s.dataset.paper===p)&&(!v||s.dataset.verdict===v)&&(!t||s.textContent.toLowerCase().indexOf(t)>=0);
      s.style.display=ok?'':'none';
    });
    count.textContent=shown+' of '+rows.length+' claims shown';
  }
  [paper,verdict,text].forEach(function(el){el.addEventListener('input',apply);el.addEventListener('change',apply);});
  var q=new URLSearchParams(location.search);
  if(q.get('paper')) paper.value=q.get('paper'); if(q.get('verdict')) verdict.value=q.get('verdict');
  apply();
})();
"""
