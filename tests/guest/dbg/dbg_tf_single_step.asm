; RFLAGS.TF single-step (SDM Vol. 3B 17.3.1.4): a #DB trap after every
; instruction that starts with TF = 1 — not after the POPF that sets it, but
; after the POPF that clears it — with DR6.BS. The handler counts in SI.
; mode: real
; expect: rsi=7 rdx=0xffff4ff0 rbx=5
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  mov word [4], handler
  mov word [6], 0
  xor si, si
  pushf
  pop ax
  or ax, 0x100
  push ax
  popf            ; TF = 1 from here: no trap after this POPF
  nop             ; 1
  mov bx, 5       ; 2
  pushf           ; 3
  pop ax          ; 4
  and ax, 0xfeff  ; 5
  push ax         ; 6
  popf            ; 7: TF was set when it started
  nop
  mov edx, dr6
  hlt
handler:
  inc si
  iret
