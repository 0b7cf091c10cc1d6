; NEG (CF = operand != 0), NOT (no flags), TEST (AND without a result);
; flags in r8..r13. SDM Vol. 2B, NEG, NOT, TEST.
; mode: long
; expect: rax=0 rbx=0xffff rcx=0x80000000 rdx=0xff00ff00ff00ff00 rsi=0x81
; expect: r8=0x46 r9=0x97 r10=0x887 r11=0x887 r12=0x82 r13=0x86
; expect-exit: hlt
bits 64
org 0x10000
  mov al, 0
  neg al                       ; 0: ZF PF, CF clear
  pushfq
  pop r8
  mov bx, 1
  neg bx                       ; 0xffff: CF SF AF PF
  pushfq
  pop r9
  mov ecx, 0x80000000
  neg ecx                      ; unchanged: CF OF SF PF
  pushfq
  pop r10
  mov rdx, 0x00ff00ff00ff00ff
  not rdx                      ; flags kept
  pushfq
  pop r11
  mov si, 0x81
  test sil, 0x80               ; SF
  pushfq
  pop r12
  test rdx, rdx                ; SF PF
  pushfq
  pop r13
  hlt
