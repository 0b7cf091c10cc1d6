; MOV SS holds a pending single-step trap until after the next instruction
; (SDM Vol. 3A 6.8.3): one #DB for MOV SS + NOP, reported after the NOP.
; The handler counts in SI and keeps the first return IP in DI.
; The host runs this guest in KVM's instruction emulator, whose single-step
; (x86.c x86_emulate_instruction -> kvm_vcpu_do_singlestep) ignores the
; MOV SS shadow and traps right after MOV SS; hardware does not.
; backends: soft
; mode: real
; expect: rsi=6 rdi=0
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  mov word [4], handler
  mov word [6], 0
  xor si, si
  mov di, 0xffff
  mov cx, ss
  pushf
  pop ax
  or ax, 0x100
  push ax
  popf            ; TF = 1
  mov ss, cx      ; no trap here ...
  nop             ; ... one trap after this NOP (1)
after_nop:
  pushf           ; 2
  pop ax          ; 3
  and ax, 0xfeff  ; 4
  push ax         ; 5
  popf            ; 6
  sub di, after_nop
  hlt
handler:
  cmp si, 0
  jne .count
  mov bp, sp
  mov di, [bp]
.count:
  inc si
  iret
