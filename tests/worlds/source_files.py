"""Source files as the tests write them (SOURCES.md §3–§6): Adyen settlement reports, BAI2 and
camt.053 statements, GL exports. Shared by the ingest tests and the bad-input tests."""
from __future__ import annotations

import csv
import io

# Adyen's columns in a shuffled order, with one column we do not use.
ADYEN_HEADER = ["Merchant Account", "Type", "Psp Reference", "Company Account", "Merchant Reference", "Payment Method",
          "Creation Date", "TimeZone", "Booking Date", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
          "Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
          "Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Batch Number"]


def adyen_line(type_: str, date: str = "2026-11-20 14:03:11", tz: str = "CET", gc: str = "USD", gd: str = "", gcr: str = "",
         nc: str = "USD", nd: str = "", ncr: str = "", fees: tuple[str, str, str, str] = ("", "", "", ""),
         psp: str = "", ref: str = "", batch: str = "42", rate: str = "1") -> dict:
    return {"Merchant Account": "ParkCo_US", "Type": type_, "Psp Reference": psp, "Company Account": "ParkCo",
            "Merchant Reference": ref, "Payment Method": "visa" if psp else "", "Creation Date": date, "TimeZone": tz,
            "Booking Date": date, "Modification Reference": f"mod-{psp}" if psp else "", "Gross Currency": gc,
            "Gross Debit (GC)": gd, "Gross Credit (GC)": gcr, "Exchange Rate": rate if gc else "", "Net Currency": nc,
            "Net Debit (NC)": nd, "Net Credit (NC)": ncr, "Commission (NC)": fees[0], "Markup (NC)": fees[1],
            "Scheme Fees (NC)": fees[2], "Interchange (NC)": fees[3], "Batch Number": batch}


def write_adyen(path, rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ADYEN_HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return out.getvalue()


def bai2(*details: str, total_fix: int = 0) -> str:
    """One USD account; trailers as the bank computes them over every 16 record whose amount is an integer."""
    amounts = [int(d.split(",")[2]) for d in details if d.startswith("16,") and d.split(",")[2].isdigit()]
    total = 1000 + sum(amounts) + total_fix
    body = ["03,4401237788,USD,010,1000,,/", *details]
    lines = ["01,121000358,PARKCO,261120,2330,1,80,,2/", "02,PARKCO,121000358,1,261120,2400,USD,4/", *body,
             f"49,{total},{len(body) + 1}/", f"98,{total},1,{len(body) + 3}/", f"99,{total},1,{len(body) + 5}/"]
    return "\n".join(lines) + "\n"


CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<c:Document xmlns:c="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <c:BkToCstmrStmt>
  <c:GrpHdr><c:MsgId>M1</c:MsgId><c:CreDtTm>2026-11-21T06:00:00</c:CreDtTm></c:GrpHdr>
  <c:Stmt>
   <c:Id>S1</c:Id>
   <c:Acct><c:Id><c:IBAN>DE89370400440532013000</c:IBAN></c:Id><c:Ccy>EUR</c:Ccy></c:Acct>
   <c:Ntry>
    <c:NtryRef>E1</c:NtryRef><c:Amt Ccy="EUR">1234.5</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd>
    <c:Sts><c:Cd>BOOK</c:Cd></c:Sts><c:BookgDt><c:Dt>2026-11-20</c:Dt></c:BookgDt><c:ValDt><c:Dt>2026-11-21</c:Dt></c:ValDt>
    <c:AcctSvcrRef>BANKREF1</c:AcctSvcrRef>
    <c:BkTxCd><c:Domn><c:Cd>PMNT</c:Cd><c:Fmly><c:Cd>RCDT</c:Cd><c:SubFmlyCd>ESCT</c:SubFmlyCd></c:Fmly></c:Domn></c:BkTxCd>
    <c:NtryDtls><c:TxDtls><c:Refs><c:EndToEndId>NOTPROVIDED</c:EndToEndId></c:Refs>
     <c:RmtInf><c:Ustrd>adyen batch 0077</c:Ustrd></c:RmtInf></c:TxDtls></c:NtryDtls>
    <c:AddtlNtryInf>ADYEN N.V.</c:AddtlNtryInf>
   </c:Ntry>
   <c:Ntry>
    <c:NtryRef>E2</c:NtryRef><c:Amt Ccy="EUR">2.5</c:Amt><c:CdtDbtInd>DBIT</c:CdtDbtInd><c:Sts><c:Cd>BOOK</c:Cd></c:Sts>
    <c:BookgDt><c:Dt>2026-11-20</c:Dt></c:BookgDt>
    <c:BkTxCd><c:Domn><c:Cd>ACMT</c:Cd><c:Fmly><c:Cd>MDOP</c:Cd><c:SubFmlyCd>CHRG</c:SubFmlyCd></c:Fmly></c:Domn></c:BkTxCd>
    <c:AddtlNtryInf>ACCOUNT FEE</c:AddtlNtryInf>
   </c:Ntry>
   <c:Ntry>
    <c:Amt Ccy="EUR">12.345</c:Amt><c:CdtDbtInd>DBIT</c:CdtDbtInd><c:BookgDt><c:Dt>2026-11-20</c:Dt></c:BookgDt>
   </c:Ntry>
   <c:Ntry>
    <c:Amt Ccy="EUR">80.00</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:BookgDt><c:Dt>2026-11-20</c:Dt></c:BookgDt>
    <c:BkTxCd><c:Prtry><c:Cd>301</c:Cd><c:Issr>BAI</c:Issr></c:Prtry></c:BkTxCd>
    <c:AddtlNtryInf>COUNTER DEPOSIT</c:AddtlNtryInf>
   </c:Ntry>
   <c:Ntry>
    <c:Amt Ccy="EUR">99.99</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:BookgDt><c:Dt>2026-11-20</c:Dt></c:BookgDt>
    <c:BkTxCd><c:Prtry><c:Cd>301</c:Cd></c:Prtry></c:BkTxCd>
    <c:NtryDtls><c:TxDtls><c:Refs><c:EndToEndId>po_1Q2w3E</c:EndToEndId></c:Refs></c:TxDtls></c:NtryDtls>
   </c:Ntry>
  </c:Stmt>
  <c:Stmt>
   <c:Acct><c:Id><c:Othr><c:Id>0038812047</c:Id></c:Othr></c:Id></c:Acct>
   <c:Ntry>
    <c:NtryRef>J1</c:NtryRef><c:Amt Ccy="JPY">1500</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Sts>BOOK</c:Sts>
    <c:BookgDt><c:DtTm>2026-11-21T09:30:00+09:00</c:DtTm></c:BookgDt>
    <c:BkTxCd><c:Prtry><c:Cd>165</c:Cd></c:Prtry></c:BkTxCd><c:AddtlNtryInf>TRANSFER</c:AddtlNtryInf>
   </c:Ntry>
   <c:Ntry><c:Amt Ccy="JPY">15.5</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:BookgDt><c:Dt>2026-11-21</c:Dt></c:BookgDt></c:Ntry>
   <c:Ntry><c:Amt Ccy="JPY">15</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Sts>PDNG</c:Sts>
    <c:BookgDt><c:Dt>2026-11-21</c:Dt></c:BookgDt></c:Ntry>
   <c:Ntry><c:Amt Ccy="JPY">15</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:BookgDt><c:Dt>2026-02-30</c:Dt></c:BookgDt></c:Ntry>
   <c:Ntry><c:Amt Ccy="JPY">15</c:Amt><c:CdtDbtInd>XX</c:CdtDbtInd><c:BookgDt><c:Dt>2026-11-21</c:Dt></c:BookgDt></c:Ntry>
  </c:Stmt>
 </c:BkToCstmrStmt>
</c:Document>
"""


GL_HEADER = ["journal_id", "line", "posted_date", "account", "account_name", "debit", "credit", "currency", "memo", "reference"]
def gl(journal: str, line, posted: str, account: str, debit: str = "", credit: str = "", currency: str = "USD",
       memo: str = "", reference: str = "", name: str = "") -> dict:
    return {"journal_id": journal, "line": str(line), "posted_date": posted, "account": account, "account_name": name,
            "debit": debit, "credit": credit, "currency": currency, "memo": memo, "reference": reference,
            "exported_by": "erp"}
